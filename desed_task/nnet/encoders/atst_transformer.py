"""FrameATST: the frame-level ATST transformer, a ViT on 64-mel × 4-frame patches (docs/recipe.md §4).

Each token covers 4 frames (40 ms) of the 64-bin ATST features; the output keeps one embedding per token, so a
10 s clip (1001 frames) gives 250 frame embeddings.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint


class DropPath(nn.Module):
    """Stochastic depth: drops the whole residual branch of a sample with probability ``rate`` in training."""

    def __init__(self, rate: float = 0.0) -> None:
        super().__init__()
        self.rate = rate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.rate == 0.0 or not self.training:
            return x
        keep = 1.0 - self.rate
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask / keep


class Attention(nn.Module):
    """Multi-head self-attention; ``qkv`` has no bias, as in the pretrained checkpoints."""

    def __init__(self, dim: int, num_heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"embedding size {dim} is not divisible by the number of heads {num_heads}")
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3, bias=False)
        self.proj = nn.Linear(dim, dim)
        self.dropout = dropout
        self.proj_drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, d // self.num_heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)  # (B, H, N, D/H) each; SDPA's default scale is (D/H)^-0.5
        out = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0.0)
        return self.proj_drop(self.proj(out.transpose(1, 2).reshape(b, n, d)))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


class Block(nn.Module):
    """Pre-norm transformer block: ``x + attn(norm1(x))``, then ``x + mlp(norm2(x))``."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float, dropout: float, drop_path: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, num_heads, dropout)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), dropout)
        self.drop_path = DropPath(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.attn(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class PatchEmbed(nn.Module):
    """Cuts (B, F, T) features into F × ``patch_frames`` patches, flattened frequency-major, and projects them."""

    def __init__(self, n_mels: int, patch_frames: int, dim: int) -> None:
        super().__init__()
        self.n_mels = n_mels
        self.patch_frames = patch_frames
        self.patch_embed = nn.Linear(n_mels * patch_frames, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, f, t = x.shape
        n = t // self.patch_frames
        x = x[:, :, : n * self.patch_frames].reshape(b, f, n, self.patch_frames)  # (B, F, N, P)
        x = x.permute(0, 2, 1, 3).reshape(b, n, f * self.patch_frames)  # (B, N, F·P), index = freq·P + frame
        return self.patch_embed(x)


class FrameATST(nn.Module):
    """The frame-level ATST encoder: (B, n_mels, T) scaled features → (B, embed_dim, T // patch_frames).

    ``drop_path`` is the stochastic-depth rate of the last block, rising linearly from 0 at the first (as in ViT).
    ``activation_checkpointing`` recomputes each block in the backward pass (training only) to save memory.
    """

    def __init__(
        self,
        embed_dim: int = 768,
        depth: int = 12,
        num_heads: int = 12,
        mlp_ratio: float = 4.0,
        n_mels: int = 64,
        patch_frames: int = 4,
        max_tokens: int = 250,
        dropout: float = 0.0,
        drop_path: float = 0.0,
        activation_checkpointing: bool = False,
    ) -> None:
        super().__init__()
        self.n_mels = n_mels
        self.patch_frames = patch_frames
        self.max_tokens = max_tokens
        self.activation_checkpointing = activation_checkpointing
        self.mask_embed = nn.Parameter(torch.zeros(1, 1, embed_dim))  # used by pre-training only
        self.pos_embed = nn.Parameter(torch.zeros(1, max_tokens + 1, embed_dim))  # index 0 unused (no CLS)
        self.patch_embed = PatchEmbed(n_mels, patch_frames, embed_dim)
        rates = torch.linspace(0, drop_path, depth).tolist()
        self.blocks = nn.ModuleList(Block(embed_dim, num_heads, mlp_ratio, dropout, r) for r in rates)
        self.norm_frame = nn.LayerNorm(embed_dim, eps=1e-6)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.mask_embed, std=0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 3 or x.shape[1] != self.n_mels:
            raise ValueError(f"FrameATST expects features (B, {self.n_mels}, T), got {tuple(x.shape)}")
        n_tokens = x.shape[-1] // self.patch_frames
        if not 0 < n_tokens <= self.max_tokens:
            raise ValueError(
                f"{x.shape[-1]} frames give {n_tokens} tokens; the encoder takes 1 to {self.max_tokens} "
                f"({self.max_tokens * self.patch_frames} frames): cut long audio into 10 s chunks"
            )
        tokens = self.patch_embed(x) + self.pos_embed[:, 1 : n_tokens + 1]  # (B, N, D)
        for block in self.blocks:
            if self.activation_checkpointing and self.training and torch.is_grad_enabled():
                tokens = checkpoint(block, tokens, use_reentrant=False)
            else:
                tokens = block(tokens)
        return self.norm_frame(tokens).transpose(1, 2)  # (B, D, N)
