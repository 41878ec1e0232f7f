"""Shape ops of NumPy's surface, as compositions of the primitives: splits, stacks, pads, flips, rolls, tiles, repeats, squeezes."""

__all__ = []
