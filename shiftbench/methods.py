"""The training methods, defined once with their properties (the config's ``train.methods``).

Every consumer reads a method's properties here, never its name: the config's rules (a projected
method needs a population objective with a closed-form optimal readout, ``objectives.OBJECTIVES``),
training (``train``: projected methods run ``projection.fit``, with re-seeding moves where
``search``), the Claims (each method against the one it ``improves_on``), the figures (one line
style per method, by registry order) and the schema's enum and description.

Adding a method is one ``Method`` entry in ``METHODS``; docs/extending.md shows how.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Method:
    """A training method.

    ``projected``: the readout is held at b*(a), the optimum of the poles, and Adam moves the poles
    alone (``projection.fit``); it needs an objective with a closed-form optimal readout.
    ``search``: a search heuristic, not a learner (projected steps plus re-seeding moves from a fixed
    dictionary of poles); reported apart.
    ``improves_on``: the method it adds to; the Claims test that it recovers more, cell by cell.
    ``summary``: one line for the schema, the Claims and the docs.
    """

    name: str
    summary: str
    projected: bool = False
    search: bool = False
    improves_on: str | None = None


METHODS = {
    m.name: m
    for m in (
        Method("joint", "Adam on poles and readout together"),
        Method(
            "projected",
            "a learner: the readout held at its closed-form optimum b*(a), Adam on the poles alone",
            projected=True,
            improves_on="joint",
        ),
        Method(
            "reseed",
            "a search heuristic: projected steps plus re-seeding moves from a fixed dictionary of poles",
            projected=True,
            search=True,
            improves_on="projected",
        ),
    )
}
