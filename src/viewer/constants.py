MIN_TTL_SECONDS = 60
MAX_TTL_SECONDS = 86_400
DEFAULT_TTL_SECONDS = 3_600
PAGE_PATH = "/viewer"  # the page; its files are under ASSETS_PATH
ASSETS_PATH = "/viewer/assets"
