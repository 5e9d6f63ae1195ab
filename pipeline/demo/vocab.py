"""The demo's visual vocabulary: colours, shapes, actions and the words for each.

Colours are far apart in RGB (and in chroma, since H.264 halves its resolution) so they
survive a 64x64 yuv420p encode; each has a few synonyms so captions vary in wording while
staying learnable by a small text encoder. Shape and action words work the same way.
"""

from __future__ import annotations

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "orange": (245, 140, 30),
    "yellow": (240, 220, 50),
    "green": (50, 190, 70),
    "cyan": (40, 200, 220),
    "blue": (50, 80, 235),
    "purple": (190, 60, 220),
    "white": (235, 235, 235),
}

COLOUR_WORDS: dict[str, tuple[str, ...]] = {
    "red": ("red", "crimson", "scarlet"),
    "orange": ("orange", "amber"),
    "yellow": ("yellow", "golden"),
    "green": ("green", "emerald"),
    "cyan": ("cyan", "turquoise"),
    "blue": ("blue", "cobalt"),
    "purple": ("purple", "violet"),
    "white": ("white", "snowy"),
}

SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "cross", "diamond")

SHAPE_WORDS: dict[str, tuple[str, ...]] = {
    "circle": ("circle", "disc", "ball"),
    "square": ("square", "box", "block"),
    "triangle": ("triangle",),
    "cross": ("cross", "plus sign"),
    "diamond": ("diamond", "rhombus"),
}

DIRECTIONS: tuple[str, ...] = ("left", "right", "up", "down")

# action -> parameter choices (None: the action takes no parameter)
ACTIONS: dict[str, tuple[str, ...] | None] = {
    "move": DIRECTIONS,
    "grow": None,
    "shrink": None,
    "appear": None,
    "disappear": None,
    "blink": None,
    "recolour": tuple(COLOURS),
}

# Verb phrases for an event. "{c}" is replaced by a colour word (recolour only).
MOVE_WORDS: dict[str, tuple[str, ...]] = {
    "left": ("moves left", "slides to the left", "travels left", "drifts leftwards"),
    "right": ("moves right", "slides to the right", "travels right", "drifts rightwards"),
    "up": ("moves up", "rises", "slides upwards", "travels up"),
    "down": ("moves down", "sinks", "slides downwards", "travels down"),
}

ACTION_WORDS: dict[str, tuple[str, ...]] = {
    "grow": ("grows", "gets bigger", "expands", "grows larger"),
    "shrink": ("shrinks", "gets smaller", "contracts", "shrinks down"),
    "appear": ("appears", "shows up", "pops into view", "comes into view"),
    "disappear": ("disappears", "vanishes", "goes away", "pops out of view"),
    "blink": ("blinks", "flashes", "flickers", "blinks on and off"),
    "recolour": ("turns {c}", "changes colour to {c}", "becomes {c}", "changes to {c}"),
}

STATIC_PHRASES: tuple[str, ...] = (
    "while {np} stays still",
    "while {np} does not move",
    "next to {np} that stays put",
    "as {np} sits still",
)

# Two-event templates over the clauses of the earlier event (a) and the later event (b).
# The flag says whether clause a is written first; the clause written second says "it" when
# it is about the same object. Every template keeps the order of events unambiguous.
PAIR_TEMPLATES: tuple[tuple[str, bool], ...] = (
    ("{a}, then {b}", True),
    ("{a}, and after that {b}", True),
    ("first {a}, then {b}", True),
    ("{a}; afterwards {b}", True),
    ("{a} before {b}", True),
    ("{b} after {a}", False),
    ("at first {a}, later {b}", True),
    ("{a}, and then {b}", True),
)


def colour_of_word(word: str) -> str | None:
    """Canonical colour named by ``word`` (any synonym), or None."""
    for colour, words in COLOUR_WORDS.items():
        if word in words:
            return colour
    return None
