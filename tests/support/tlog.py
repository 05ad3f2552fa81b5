"""The transparency log in tests: a fixed signing key, and a log worker round on demand."""

import base64
import hashlib

from sqlalchemy.ext.asyncio import AsyncEngine

from src.config import Settings
from src.database import create_sessionmaker
from src.log.signing import log_identity
from src.log.worker import LogWorker

# A fixed Ed25519 seed, so checkpoints signed in different runs of a test are comparable.
TEST_LOG_SIGNING_KEY = base64.b64encode(hashlib.sha256(b"trailmark test log key").digest()).decode()


async def sign_now(engine: AsyncEngine, settings: Settings) -> None:
    """One round of a log worker, as a server process runs every LOG_CHECKPOINT_INTERVAL:
    integrate any backlog, then sign every tree that grew."""
    worker = LogWorker(create_sessionmaker(engine), log_identity(settings), interval=60)
    await worker.run_once()
