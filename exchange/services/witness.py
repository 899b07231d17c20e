"""Asking C2SP tlog-witness witnesses to cosign each new checkpoint (docs/transparency.md).

For every configured witness (setting ``log_witnesses``: ``"VKEY SUBMISSION_URL"``), each
time the log has a head the witness has not cosigned, the exchange POSTs
``<url>/add-checkpoint`` with the size that witness last cosigned and a consistency proof
from it; the witness's valid cosignature lines are kept with the head and served on its
checkpoint. A 409 (the witness is at another size) resets the size and retries once.
Several workers may ask at once: the witness's own size check keeps it consistent.
"""

from __future__ import annotations

import aiohttp
import structlog

from exchange.errors import ExchangeError, InvalidInput
from exchange.services.periodic import Periodic
from exchange.services.translog import LogService
from exchange.store.base import Store
from exchange.translog.witness import WitnessKey, add_checkpoint_request

log = structlog.get_logger("exchange.witness")
MAX_ANSWER = 64 * 1024


def parse_witnesses(entries: list[str]) -> list[tuple[WitnessKey, str]]:
    out = []
    for entry in entries:
        parts = entry.split()
        if len(parts) != 2 or not parts[1].startswith(("http://", "https://")):
            raise InvalidInput(f"log_witnesses entries are 'VKEY URL', not {entry!r}")
        out.append((WitnessKey.parse(parts[0]), parts[1].rstrip("/")))
    return out


class WitnessClient:
    def __init__(
        self,
        store: Store,
        translog: LogService,
        witnesses: list[tuple[WitnessKey, str]],
        every: float,
    ) -> None:
        self.store = store
        self.translog = translog
        self.witnesses = witnesses
        self._session: aiohttp.ClientSession | None = None
        self._job = Periodic("log-witnesses", self.run_once, every)

    async def run_once(self) -> None:
        head = await self.store.log.log_head()
        if head is None or self._session is None:
            return
        for witness, url in self.witnesses:
            try:
                await self._ask(witness, url, head.tree_size)
            except (aiohttp.ClientError, TimeoutError) as exc:
                log.warning("witness unreachable", witness=witness.name, error=type(exc).__name__)

    async def _ask(self, witness: WitnessKey, url: str, size: int) -> None:
        assert self._session is not None
        for _ in range(2):
            head = await self.store.log.log_head(size)
            assert head is not None
            old = await self.store.log.log_witness_size(witness.name)
            if old >= size:
                return
            proof = (
                [bytes.fromhex(h) for h in await self.translog.consistency(old, size)]
                if old > 0
                else []
            )
            checkpoint = await self.translog.checkpoint(size, witnesses=False)
            body = checkpoint[: checkpoint.index("\n\n") + 1]
            async with self._session.post(
                url + "/add-checkpoint", data=add_checkpoint_request(old, proof, checkpoint)
            ) as response:
                text = (await response.content.read(MAX_ANSWER)).decode("utf-8", "replace")
                if response.status == 409:
                    held = text.strip()
                    if not held.isdigit() or int(held) > size:
                        raise ExchangeError(f"witness {witness.name} claims size {held!r}")
                    await self.store.log.save_log_witness_cosignature(
                        head, witness.name, None, int(held)
                    )
                    continue
                if response.status != 200:
                    log.warning(
                        "witness refused the checkpoint",
                        witness=witness.name,
                        status=response.status,
                    )
                    return
            lines = [line for line in text.splitlines() if witness.accept(line, body)]
            if not lines:
                log.warning("witness answered without a valid cosignature", witness=witness.name)
                return
            await self.store.log.save_log_witness_cosignature(
                head, witness.name, lines[0] + "\n", size
            )
            return

    def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15))
        self._job.start()

    async def stop(self) -> None:
        await self._job.stop()
        if self._session is not None:
            await self._session.close()
            self._session = None
