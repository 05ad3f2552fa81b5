.PHONY: start test ci bench bench-smoke

start:
	@python3 tasks.py start

test:
	@python3 tasks.py test

ci:
	@bash .ci/run

bench:
	@python3 tasks.py bench

bench-smoke:
	@python3 tasks.py bench --smoke
