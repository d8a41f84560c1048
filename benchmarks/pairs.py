"""Source/target pairs for the benchmarks: package-shipped faces always, ../shared/faces when present."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fusion import sample_path

# The team's real photos, beside the checkout (never committed); the benchmarks use them when present.
SHARED_FACES = Path(__file__).resolve().parent.parent.parent / "shared" / "faces"


@dataclass(frozen=True)
class Pair:
    name: str
    source: Path
    target: Path
    source_face: int = 0
    target_face: int = 0
    shared: bool = False  # built from ../shared photos: never put in committed images
    glasses: bool = False  # a dark glasses frame drawn on the target (fusion.samples.draw_glasses)
    hand: bool = False  # a real hand held over the target's mouth (fusion.samples.draw_hand)


# Who is in each ../shared photo; two_people.jpg holds Obama (left) and Biden (right).
_SHARED_PEOPLE = {
    "obama.jpg": "obama",
    "obama-1080p.jpg": "obama",
    "32bit.png": "obama",
    "obama3.jpg": "obama",
    "biden.jpg": "biden",
    "alex-lacamoire.png": "alex",
    "lin-manuel-miranda.png": "lin",
}
_SHARED_SOURCES = ("obama.jpg", "biden.jpg", "alex-lacamoire.png", "lin-manuel-miranda.png")


def package_pairs() -> list[Pair]:
    """Astronaut <-> each face of the six-face group photo, two group-to-group pairs, and one
    onto the astronaut wearing drawn glasses."""
    astronaut, group = sample_path("astronaut"), sample_path("group")
    pairs = []
    for index in range(6):
        pairs.append(Pair(f"group{index}->astronaut", group, astronaut, source_face=index))
        pairs.append(Pair(f"astronaut->group{index}", astronaut, group, target_face=index))
    pairs.append(Pair("group0->group4", group, group, source_face=0, target_face=4))
    pairs.append(Pair("group4->group0", group, group, source_face=4, target_face=0))
    # An object in front of the target's face: the frame must stay, and not be taken for skin detail.
    pairs.append(Pair("group1->astronaut+glasses", group, astronaut, source_face=1, glasses=True))
    return pairs


def shared_pairs(faces_dir: Path = SHARED_FACES) -> list[Pair]:
    """Every source/target combination of two different people among the ../shared photos."""
    if not faces_dir.is_dir():
        return []
    pairs = []
    for source in _SHARED_SOURCES:
        for target, person in _SHARED_PEOPLE.items():
            if person != _SHARED_PEOPLE[source]:
                pairs.append(Pair(f"{source}->{target}", faces_dir / source, faces_dir / target, shared=True))
        # two_people.jpg: faces sorted largest first: Obama (left) is index 0, Biden index 1.
        other = 0 if _SHARED_PEOPLE[source] == "biden" else 1
        if _SHARED_PEOPLE[source] in ("obama", "biden"):
            pairs.append(
                Pair(
                    f"{source}->two_people[{other}]",
                    faces_dir / source,
                    faces_dir / "two_people.jpg",
                    target_face=other,
                    shared=True,
                )
            )
    return pairs


def occlusion_pairs() -> list[Pair]:
    """Pairs that check what stays in front of a face, kept out of the identity medians (the object
    hides what the judge reads): the group photo's real hand held over the astronaut's mouth."""
    return [Pair("group0->astronaut+hand", sample_path("group"), sample_path("astronaut"), hand=True)]
