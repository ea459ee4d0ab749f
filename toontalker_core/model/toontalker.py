"""A loaded ToonTalker model: one generator (in-domain) or a cartoon + real pair (cross-domain)."""
from __future__ import annotations

import torch
from torch import nn

from .config import ModelConfig
from ..errors import InputError
from .generator import Generator
from .cache import ATTR
from .transformer import TransformerDecoderLayer

DOMAINS = ("real", "cartoon")


def check_domain(domain: str) -> str:
    if domain not in DOMAINS:
        raise InputError(f"unknown domain '{domain}': use one of {', '.join(DOMAINS)}")
    return domain


class ToonTalker(nn.Module):
    """State-dict roles as in the published files: `gen` (in-domain model, or the cartoon generator of a
    cross-domain model) and `gen_real` (the real generator of a cross-domain model)."""

    def __init__(self, cfg: ModelConfig, cross_domain: bool = False):
        super().__init__()
        self.cfg = cfg
        self.cross_domain = cross_domain
        self.gen = Generator(cfg)
        self.gen_real = Generator(cfg) if cross_domain else None
        self.eval().requires_grad_(False)

    def _apply(self, fn, *args, **kwargs):
        """Moving the weights moves what the model cache derived from them (see model/cache.py)."""
        before = self.device
        out = super()._apply(fn, *args, **kwargs)
        cache = self.__dict__.get(ATTR)
        if cache is not None:
            cache.follow(fn, before)
        return out

    @property
    def kind(self) -> str:
        return "cross-domain" if self.cross_domain else "in-domain"

    @property
    def domains(self) -> tuple[str, ...]:
        return DOMAINS if self.cross_domain else ("real",)

    @property
    def device(self) -> torch.device:
        return self.gen.motion_bases.device

    @property
    def dtype(self) -> torch.dtype:
        return self.gen.motion_bases.dtype

    def generator(self, domain: str) -> Generator:
        """The generator that owns `domain`'s appearance encoder, motion encoder, bases and synthesis."""
        check_domain(domain)
        if not self.cross_domain:
            if domain != "real":
                raise InputError(
                    f"this in-domain checkpoint only serves real faces; a {domain} image needs a "
                    "cross-domain checkpoint (one holding both 'gen' and 'gen_real')")
            return self.gen
        return self.gen_real if domain == "real" else self.gen

    def query_transformers(self) -> tuple[TransformerDecoderLayer, TransformerDecoderLayer]:
        """(source T0, driving T1): shared by both domains, taken from the real generator in cross-domain
        checkpoints, so that both domains project into one canonical space."""
        owner = self.gen_real if self.cross_domain else self.gen
        return owner.dec.transformerlayer_0, owner.dec.transformerlayer_1

    def require_domain(self, domain: str, role: str) -> None:
        """Clear error if this checkpoint cannot serve `domain` for the `role` ("source"/"driving")."""
        try:
            self.generator(domain)
        except InputError as e:
            raise InputError(f"{role} domain '{domain}': {e}") from None

    def check_route(self, source_domain: str, driving_domain: str) -> None:
        self.require_domain(source_domain, "source")
        self.require_domain(driving_domain, "driving")

    def describe(self) -> str:
        c = self.cfg
        return (f"ToonTalker {self.kind} ({'/'.join(self.domains)}), {c.size}px, style {c.style_dim}, "
                f"{c.motion_dim} motion bases, {self.dtype} on {self.device}")
