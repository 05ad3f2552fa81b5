from src.exceptions import Conflict, NotFound


class LogNotFound(NotFound, detail="No such tenant log."):
    pass


class CheckpointNotFound(
    NotFound,
    code="checkpoint_not_found",
    detail="No checkpoint of that tree size was ever signed; list them at `/checkpoints`.",
):
    pass


class TileNotFound(
    NotFound,
    detail="No such tile: tiles are `tile/<L>/<N>[.p/<W>]` or `tile/entries/<N>[.p/<W>]` "
    "(N in the x001/x234/067 form), and only within the latest checkpoint.",
):
    pass


class NotIntegrated(
    Conflict,
    code="not_integrated",
    detail="The event is not covered by a signed checkpoint yet; retry in a second.",
):
    def __init__(self) -> None:
        super().__init__(headers={"Retry-After": "1"})


class TilePruned(
    NotFound,
    code="pruned",
    detail="The log was pruned: tiles and entry bundles wholly below its minimum index (see "
    "`/key`) are no longer served. Every proof of a kept event still verifies.",
):
    pass


class CannotPrune(Conflict, code="cannot_prune", detail="The log cannot be pruned that far."):
    pass
