.PHONY: start test ci

start:
	python3 tasks.py start

test:
	python3 tasks.py test

ci:
	bash .ci/run
