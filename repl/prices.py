"""What a model's tokens cost, where it is known: the config's [prices], else a few common
models' list prices (US$ per million tokens). Nothing here is fetched: an unknown model's cost is
unknown, and said so."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from repl.thread import Message

Price = tuple[float, float]  # US$ per million tokens: input, output

PRICES: dict[str, Price] = {
    "gpt-4o-mini": (0.15, 0.60), "gpt-4o": (2.50, 10.00), "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4.1-mini": (0.40, 1.60), "gpt-4.1": (2.00, 8.00), "o3-mini": (1.10, 4.40),
    "o4-mini": (1.10, 4.40), "o3": (2.00, 8.00), "gpt-3.5-turbo": (0.50, 1.50),
}


def price(model: str, configured: Mapping[str, Sequence[float]]) -> Price | None:
    """``model``'s price: configured for it by name, else known by its longest prefix."""
    own = configured.get(model)
    if own:
        return float(own[0]), float(own[1])
    name = model.lower().rsplit("/", 1)[-1]
    match = max((p for p in PRICES if name.startswith(p)), key=len, default=None)
    return PRICES[match] if match else None


def cost(answers: Iterable[Message], per_million: Price) -> float:
    """What ``answers`` cost in US$, by the usage their servers reported."""
    prompt = completion = 0
    for m in answers:
        prompt += m.usage.prompt_tokens or 0
        completion += m.usage.completion_tokens or 0
    return (prompt * per_million[0] + completion * per_million[1]) / 1_000_000
