"""The sharing policy decided in Python, for one reader and one object at a time.

The read paths never come here: the store's query applies the same decision tables in
SQL. This is for what has to say *why* (``explain``), for what is not stored yet (a relay
the poster must be able to read) and for single checks (log inclusion). It takes the
object's facts from the store and walks ``exchange.policy``'s tables with them, looking
up the facts that concern other objects (a relationship's ends, the objects that
reference a marking) by deciding ``SEES`` and ``SEES_WITH_ENDS`` for those objects.
"""

from __future__ import annotations

from collections.abc import Sequence

from exchange.models import Principal, RuleDirection, StandingRule
from exchange.policy import (
    READS,
    SEES,
    SEES_WITH_ENDS,
    Decision,
    Evidence,
    Fact,
    ObjectFacts,
    Table,
    decide_looking_up,
)
from exchange.store.base import Store


def latest_live(versions: Sequence[ObjectFacts]) -> ObjectFacts | None:
    """The version that decides who reads every version: the latest not withdrawn."""
    live = [v for v in versions if not v.withdrawn]
    return live[-1] if live else None


class Access:
    """One evaluation context: outbound rules are read once per publisher."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._outbound: dict[str, list[StandingRule]] = {}

    async def outbound(self, author_identity: str | None) -> list[StandingRule]:
        if author_identity is None:
            return []
        if author_identity not in self._outbound:
            author = await self.store.members.get_member_by_identity(author_identity)
            self._outbound[author_identity] = (
                [
                    r
                    for r in await self.store.sharing.list_rules(author.id)
                    if r.direction is RuleDirection.OUTBOUND
                ]
                if author is not None
                else []
            )
        return self._outbound[author_identity]

    async def decide(
        self,
        table: Table,
        reader: Principal,
        version: ObjectFacts,
        latest: ObjectFacts | None,
        found: dict[Fact, Evidence] | None = None,
    ) -> Decision:
        """``found``: the compound facts of ``latest`` for ``reader``, shared by the calls
        that judge several versions of one object (they are the same for every version)."""
        head = latest or version

        async def look_up(fact: Fact) -> Evidence:
            if fact is Fact.END_UNSEEN:
                return await self._end_unseen(reader, head)
            if fact is Fact.REFERENCED_BY_READABLE:
                return await self._referenced_by_readable(reader, head)
            raise AssertionError(f"{fact.value} is not a compound fact")

        return await decide_looking_up(
            table,
            reader,
            version,
            latest=latest,
            outbound=await self.outbound(head.author_identity),
            look_up=look_up,
            found=found,
        )

    async def _end_unseen(self, reader: Principal, obj: ObjectFacts) -> Evidence:
        for ref in dict.fromkeys(obj.ends):
            end = latest_live(await self.store.objects.object_facts(ref))
            if end is None:
                continue  # not held (or withdrawn): counts as readable
            if not (await self.decide(SEES, reader, end, end)).allowed:
                return Evidence(True, ref, ref)
        return Evidence(False)

    async def _referenced_by_readable(self, reader: Principal, marking: ObjectFacts) -> Evidence:
        for ref in await self.store.objects.marking_referrers(marking.stix_id):
            user = latest_live(await self.store.objects.object_facts(ref))
            if user is not None and (await self.decide(SEES_WITH_ENDS, reader, user, user)).allowed:
                return Evidence(True, detail=ref)
        return Evidence(False)

    async def reads(self, reader: Principal, versions: Sequence[ObjectFacts]) -> Decision:
        """May ``reader`` read some version of the object whose ``versions`` these are (in
        version order)? The decision for the latest version it may read, else for the
        latest live version (or, when every version is withdrawn, the latest)."""
        latest = latest_live(versions)
        denial: Decision | None = None
        # With no live version each version is its own latest: nothing to share then.
        found: dict[Fact, Evidence] | None = {} if latest is not None else None
        for version in reversed(versions):
            decision = await self.decide(READS, reader, version, latest, found)
            if decision.allowed:
                return decision
            if denial is None and (latest is None or version is latest):
                denial = decision
        assert denial is not None, "an object has at least one version"
        return denial

    async def sees_with_ends(self, reader: Principal, candidate: ObjectFacts) -> Decision:
        """For a relay: would ``candidate``, stored as the latest version, admit ``reader``?"""
        return await self.decide(SEES_WITH_ENDS, reader, candidate, candidate)
