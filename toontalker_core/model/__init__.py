"""The ToonTalker network (paper sec. 3): appearance and domain motion encoders, motion bases and query
transformers into the canonical space, the backward transformer and the warp-rendering synthesis; loading the
published checkpoints safely, and what is derived from a loaded model (cache, identity)."""
