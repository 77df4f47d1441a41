"""The JetCLR jet encoder, readable in one file.

A transformer encoder over a jet's constituents:

    x (N, C, F) --embed--> h (N, C, D) --[self-attention + feed-forward] x L--> h (N, C, D)
      [--per-constituent Linear + ReLU--> (N, C, R)]
      --sum over constituents--> embedding (N, D or R)
      [ ++ BatchNorm(jet) (N, J): the fat jet's own observables, optional ]
      --head MLP--> head (N, D_out)

* Permutation invariance: no positional encoding, attention is permutation equivariant,
  and the pooling is a sum.
* Masking: ``mask`` (N, C) is a float "continuous mask".  For a standard model it is 1 for
  real constituents and 0 for padding.  For the IRC-safe model it is each constituent's
  pT fraction: attention weights become ``w_j exp(q_i.k_j) / sum_k w_k exp(q_i.k_k)`` and
  the pooling is ``sum_i w_i h_i``.  Then splitting a constituent into two collinear ones
  (same angles, pT shared) or adding one with zero pT leaves the embedding unchanged, as
  long as the per-constituent features are angular only, or angles times the jet's pT
  (see ``IRC_SAFE_FEATURES``).
* The representation is ``embedding`` (before the head, as in JetCLR); the head output
  feeds the contrastive loss.  With ``d_repr`` set, each constituent's transformer output is
  lifted to R dimensions by a linear layer and a ReLU before the (pT-weighted) sum, so the
  representation is wider than the transformer (JetCLR's was 1 000-dimensional) at the cost
  of one per-constituent matrix product; the sum keeps it IRC-safe.
* Jet features (``jet_features``, a fine-tuned classifier only): the head also sees the fat
  jet's NanoAOD observables (:data:`~jetclr_coffea.preprocessing.jet_features.JET_FEATURES`,
  standardised by a batch norm), so a tagger can combine the constituents' pattern with the
  jet's pT and groomed mass, which the angular, pT-fraction inputs cannot know.  The
  ``embedding`` stays the constituents' representation.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import torch
from torch import nn

from jetclr_coffea._io import JsonDict
from jetclr_coffea.preprocessing.jet_features import check_jet_features

__all__ = ["IRC_SAFE_FEATURES", "EncoderConfig", "JetEncoder"]

#: Features that depend on angles only (or on angles times the jet's pT, which is IRC-safe):
#: the ones an IRC-safe model may use.
IRC_SAFE_FEATURES = frozenset({"deta", "dphi", "dr", "deta_pt", "dphi_pt", "dr_pt"})

#: Added to attention logits where the mask is zero (finite, so all-padding rows stay finite).
_MASKED_LOGIT = -1.0e9


@dataclass(frozen=True)
class EncoderConfig:
    """Architecture of :class:`JetEncoder`.

    Attributes:
        n_features: per-constituent input features F.
        d_model: width D of the transformer (and of the embedding).
        n_heads: attention heads (must divide d_model).
        n_layers: transformer layers L.
        d_ff: hidden width of each feed-forward block.
        d_out: output width of the head network.
        head_layers: linear layers in the head network.
        dropout: dropout rate during training.
        irc_safe: pT-weighted attention and pooling (``mask`` holds pT fractions).
        d_repr: width R of the representation, lifted per constituent before the sum
            (None: the transformer width D).
        jet_features: per-jet inputs of the head besides the embedding (the ONNX input
            ``jet``); only for a classifier (``objective: supervised``).
    """

    n_features: int = 5
    d_model: int = 64
    n_heads: int = 4
    n_layers: int = 3
    d_ff: int = 128
    d_out: int = 64
    head_layers: int = 2
    dropout: float = 0.1
    irc_safe: bool = False
    d_repr: int | None = None
    jet_features: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "jet_features", check_jet_features(self.jet_features))
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model ({self.d_model}) must be divisible by n_heads ({self.n_heads})")
        for f in fields(self):
            value = getattr(self, f.name)
            is_int = isinstance(value, int) and not isinstance(value, bool)
            if f.name != "dropout" and is_int and value <= 0:
                raise ValueError(f"{f.name} must be positive, got {value}")

    @property
    def embedding_width(self) -> int:
        """Width of the representation ``embedding``."""
        return self.d_model if self.d_repr is None else self.d_repr

    def to_dict(self) -> JsonDict:
        return asdict(self)


class _SelfAttention(nn.Module):
    def __init__(self, cfg: EncoderConfig) -> None:
        super().__init__()
        self.n_heads = cfg.n_heads
        self.d_head = cfg.d_model // cfg.n_heads
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.out = nn.Linear(cfg.d_model, cfg.d_model)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, h: torch.Tensor, log_w: torch.Tensor) -> torch.Tensor:
        n, c, d = h.shape  # (N, C, D)
        q, k, v = self.qkv(h).split(d, dim=2)  # each (N, C, D)
        q = q.view(n, c, self.n_heads, self.d_head).transpose(1, 2)  # (N, H, C, Dh)
        k = k.view(n, c, self.n_heads, self.d_head).transpose(1, 2)
        v = v.view(n, c, self.n_heads, self.d_head).transpose(1, 2)
        logits = (q @ k.transpose(-2, -1)) / math.sqrt(self.d_head)  # (N, H, C, C)
        logits = logits + log_w[:, None, None, :]  # weight (or mask) the keys
        att = self.drop(torch.softmax(logits, dim=-1))
        y = (att @ v).transpose(1, 2).reshape(n, c, d)  # (N, C, D)
        return self.out(y)  # type: ignore[no-any-return]


class _Block(nn.Module):
    def __init__(self, cfg: EncoderConfig) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(cfg.d_model)
        self.attn = _SelfAttention(cfg)
        self.norm2 = nn.LayerNorm(cfg.d_model)
        self.ff = nn.Sequential(
            nn.Linear(cfg.d_model, cfg.d_ff),
            nn.GELU(),
            nn.Linear(cfg.d_ff, cfg.d_model),
            nn.Dropout(cfg.dropout),
        )

    def forward(self, h: torch.Tensor, log_w: torch.Tensor) -> torch.Tensor:
        h = h + self.attn(self.norm1(h), log_w)  # (N, C, D)
        return h + self.ff(self.norm2(h))  # type: ignore[no-any-return]


class JetEncoder(nn.Module):
    """Permutation-invariant transformer encoder of jet constituents."""

    def __init__(self, cfg: EncoderConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Linear(cfg.n_features, cfg.d_model)
        self.blocks = nn.ModuleList([_Block(cfg) for _ in range(cfg.n_layers)])
        self.norm = nn.LayerNorm(cfg.d_model)
        self.lift = (None if cfg.d_repr is None
                     else nn.Sequential(nn.Linear(cfg.d_model, cfg.d_repr), nn.ReLU()))  # (D -> R)
        n_jet = len(cfg.jet_features)
        self.jet_norm = nn.BatchNorm1d(n_jet) if n_jet else None
        layers: list[nn.Module] = []
        for i in range(cfg.head_layers):
            last = i == cfg.head_layers - 1
            width_in = cfg.embedding_width + n_jet if i == 0 else cfg.d_model
            layers.append(nn.Linear(width_in, cfg.d_out if last else cfg.d_model))
            if not last:
                layers.append(nn.ReLU())
        self.head = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, mask: torch.Tensor,
                jet: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Embed a batch of jets.

        Args:
            x: (N, C, F) constituent features, zero in padding.
            mask: (N, C) 1/0 for real/padded constituents, or pT fractions (IRC-safe).
            jet: (N, J) the jet features of ``cfg.jet_features`` (None without them).

        Returns:
            ``(embedding, head)``: (N, D) (or (N, R) with ``d_repr``) representation and
            (N, D_out) head output.
        """
        mask = mask.to(x.dtype)
        real = mask > 0  # (N, C)
        if self.cfg.irc_safe:
            log_w = torch.where(real, torch.log(torch.clamp(mask, min=1e-30)), _MASKED_LOGIT)
            pool_w = mask
        else:
            log_w = torch.where(real, 0.0, _MASKED_LOGIT)
            pool_w = real.to(x.dtype)
        h = self.embed(x)  # (N, C, D)
        for block in self.blocks:
            h = block(h, log_w)
        h = self.norm(h)
        if self.lift is not None:
            h = self.lift(h)  # (N, C, R)
        embedding = (h * pool_w[..., None]).sum(dim=1)  # (N, D) or (N, R)
        if self.jet_norm is None:
            return embedding, self.head(embedding)
        if jet is None or jet.shape[-1] != len(self.cfg.jet_features):
            raise ValueError(f"this encoder takes the jet features {list(self.cfg.jet_features)} as `jet`")
        return embedding, self.head(torch.cat([embedding, self.jet_norm(jet)], dim=1))  # (N, D_out)
