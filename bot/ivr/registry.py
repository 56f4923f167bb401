"""All flows of the hotline, validated at start and reloaded when an editor changes a file.

A call runs on the version of its flow that was current when it started: the version id is
kept in the call's state and the flow's source is published to Redis under that id, so any
worker (and this one after a reload) can still walk an older version until the call ends.
A file that fails validation on reload is reported and ignored; the previous version stays.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path

from bot import file_change
from bot.ivr.errors import FlowError
from bot.ivr.flow import Flow
from bot.ivr.flow_loader import load_flow_file, parse_flow

logger = logging.getLogger(__name__)

SNAPSHOT_TTL_S = 24 * 3600
_KEY = "kefu:ivr:flowsrc:{flow}:{version}"


class FlowRegistry:
    def __init__(self, flows_dir: Path, redis=None, *, recheck_every_s: float = 1.0) -> None:
        self.flows_dir = Path(flows_dir)
        self.redis = redis
        self.recheck_every_s = recheck_every_s
        self._current: dict[str, Flow] = {}
        self._versions: dict[tuple[str, str], Flow] = {}
        self._seen: dict[Path, file_change.Seen] = {}  # each file as last looked at, loaded or refused
        self._sources: dict[tuple[str, str], str] = {}
        self._checked_at = 0.0

    def load(self) -> "FlowRegistry":
        """Read and validate every flow; the first problem raises :class:`FlowError`."""
        if not self.flows_dir.is_dir():
            raise FlowError(str(self.flows_dir), "", "", "the flows folder does not exist")
        files = sorted(self.flows_dir.glob("*.yml"))
        if not files:
            raise FlowError(str(self.flows_dir), "", "", "no flow files (*.yml) in the folder")
        for path in files:
            self._seen[path] = file_change.look(path, None)[0]
            self._install(path, load_flow_file(path))
        self._checked_at = time.monotonic()
        return self

    def _install(self, path: Path, flow: Flow) -> None:
        previous = self._current.get(flow.id)
        self._current[flow.id] = flow
        self._versions[(flow.id, flow.version)] = flow
        self._sources[(flow.id, flow.version)] = path.read_text(encoding="utf-8")
        if previous is not None and previous.version != flow.version:
            logger.info("ivr.flow.reloaded flow=%s version=%s previous=%s", flow.id, flow.version, previous.version)

    def refresh(self) -> None:
        """Pick up changed or new files (cheap: a stat per file, at most once per interval; bot/file_change.py)."""
        now = time.monotonic()
        if now - self._checked_at < self.recheck_every_s:
            return
        self._checked_at = now
        for path in sorted(self.flows_dir.glob("*.yml")):
            try:
                seen, changed = file_change.look(path, self._seen.get(path))
            except OSError:
                continue
            self._seen[path] = seen  # a refused file is reported once per change
            if not changed or seen.stamp == file_change.MISSING:
                continue
            try:
                self._install(path, load_flow_file(path))
            except FlowError as exc:
                logger.error("ivr.flow.reload_failed file=%s error=%s", path.name, exc)

    def flow_ids(self) -> list[str]:
        return sorted(self._current)

    def has(self, flow_id: str) -> bool:
        return flow_id in self._current

    async def current(self, flow_id: str) -> Flow:
        """The newest valid version, published to Redis so other workers can find it by version."""
        self.refresh()
        flow = self._current[flow_id]
        if self.redis is not None:
            await self.redis.set(_KEY.format(flow=flow.id, version=flow.version),
                                 self._sources[(flow.id, flow.version)], ex=SNAPSHOT_TTL_S)
        return flow

    async def version(self, flow_id: str, version: str) -> Flow:
        """A specific version: from memory, else from the snapshot another worker published."""
        flow = self._versions.get((flow_id, version))
        if flow is not None:
            return flow
        source = await self.redis.get(_KEY.format(flow=flow_id, version=version)) if self.redis else None
        if source is None:
            raise FlowError(f"{flow_id}.yml", "", "", f"version {version} is no longer available")
        flow = parse_flow(source if isinstance(source, str) else source.decode("utf-8"), f"{flow_id}.yml", flow_id)
        self._versions[(flow_id, version)] = flow
        return flow
