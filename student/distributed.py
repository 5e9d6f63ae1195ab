"""Data-parallel training: the process group, the gathers, and who may write.

``torchrun --nproc-per-node N -m teachkit student train ...`` starts N copies of the
trainer; :func:`init` reads torchrun's environment (``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``, ``MASTER_ADDR``/``MASTER_PORT``) and joins the group, with NCCL when the run
trains on CUDA (one GPU per local rank) and gloo on CPU. Without ``WORLD_SIZE`` the run is
a single process and nothing here communicates.

The contrastive and distillation losses compare every caption of a batch with every video
of it, so a rank's share alone is not enough: :func:`gather_rows` all-gathers the ranks'
embeddings *with their gradient* into the global batch, in rank order (rank r holds rows
``r * B/N .. (r + 1) * B/N``, :func:`student.data.rank_share`), as CLIP4Clip's
``AllGather`` and TeachCLIP do. Every rank then computes the same global loss. Its backward
sums each row's gradient over the ranks (every rank's loss reads every row) and returns a
rank its own rows; :func:`average_gradients` then *averages* the parameter gradients, which
is exactly the gradient of the one global loss -- so N processes take the steps one
process takes on the same global batch, up to float rounding (tests/student/test_ddp.py).
(CLIP4Clip's ``AllGather`` returns the own slice without the sum, which scales the
gradient by 1/N; AdamW barely notices, a test of equal steps does.)
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Group:
    """Where this process stands: its rank among ``world`` processes (1: no group)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that writes checkpoints, vectors, metrics and logs."""
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1


SINGLE = Group()


def init(device: torch.device) -> tuple[Group, torch.device]:
    """Join torchrun's process group (if ``WORLD_SIZE`` is set) and pick this rank's device.

    On CUDA each local rank trains on ``cuda:<LOCAL_RANK>`` with NCCL; on CPU with gloo.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return SINGLE, device
    group = Group(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))
    if device.type == "cuda":
        device = torch.device("cuda", group.local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend, rank=group.rank, world_size=world)
    return group, device


def close(group: Group) -> None:
    if group.active and dist.is_initialized():
        dist.destroy_process_group()


@contextmanager
def main_first(group: Group):
    """Rank 0 runs the block first (it decodes the frame cache, builds the teacher matrices),
    the other ranks after it, when they find those caches ready."""
    if group.active and not group.is_main:
        dist.barrier()
    yield
    if group.active and group.is_main:
        dist.barrier()


class _GatherRows(torch.autograd.Function):
    """All-gather along dim 0; backward: the sum over ranks of each row's gradient, own rows."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        x = x.contiguous()
        parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, x)
        ctx.rank, ctx.rows = dist.get_rank(), x.shape[0]
        return torch.cat(parts)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.contiguous().clone()
        dist.all_reduce(grad)  # every rank's (identical) loss read every row
        return grad[ctx.rank * ctx.rows : (ctx.rank + 1) * ctx.rows]


def gather_rows(x: torch.Tensor | None, group: Group) -> torch.Tensor | None:
    """The ranks' ``x`` stacked along dim 0 in rank order, with gradient (equal shapes)."""
    if x is None or not group.active:
        return x
    if not x.requires_grad:
        parts = [torch.empty_like(x) for _ in range(group.world)]
        dist.all_gather(parts, x.contiguous())
        return torch.cat(parts)
    return _GatherRows.apply(x)


BUCKET = 1 << 24  # elements per all-reduce of gradients (64 MB in fp32)


def _buckets(tensors: list[torch.Tensor]):
    """Consecutive runs of ``tensors`` of one dtype and device, about ``BUCKET`` elements each."""
    run: list[torch.Tensor] = []
    size = 0
    for t in tensors:
        if run and (size + t.numel() > BUCKET or t.dtype != run[0].dtype or t.device != run[0].device):
            yield run
            run, size = [], 0
        run.append(t)
        size += t.numel()
    if run:
        yield run


def broadcast_parameters(model: torch.nn.Module, group: Group) -> None:
    """Rank 0's parameters and buffers on every rank (each rank built the same seeded init;
    this makes sure)."""
    if not group.active:
        return
    from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors

    tensors = [t.data for t in list(model.parameters()) + list(model.buffers())]
    for run in _buckets(tensors):
        flat = _flatten_dense_tensors(run)
        dist.broadcast(flat, src=0)
        for t, v in zip(run, _unflatten_dense_tensors(flat, run)):
            t.copy_(v)


def average_gradients(model: torch.nn.Module, group: Group) -> None:
    """Every parameter's gradient averaged over the ranks, in place (after ``backward``).

    A hand-written all-reduce rather than DistributedDataParallel: which parameters a step
    reaches depends on the loss terms (a distillation-only run never reads the logit scale),
    and DDP's search for unused parameters starts from the model's outputs, not from the
    loss, so it would wait for gradients that never come. Every rank runs the same graph
    (the same global loss), so the same parameters have gradients on every rank. What this
    gives up is DDP's overlap of the all-reduce with the backward pass.
    """
    if not group.active:
        return
    from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors

    grads = [p.grad for p in model.parameters() if p.grad is not None]
    for run in _buckets(grads):
        flat = _flatten_dense_tensors(run)
        dist.all_reduce(flat)
        flat /= group.world
        for g, v in zip(run, _unflatten_dense_tensors(flat, run)):
            g.copy_(v)


def gather_outputs(outputs, group: Group):
    """The global batch's student outputs from each rank's share (see the module doc)."""
    if not group.active:
        return outputs
    from .model import StudentOutputs

    text, video = gather_rows(outputs.text, group), gather_rows(outputs.video, group)
    return StudentOutputs(text, video, text @ video.T, outputs.logit_scale, gather_rows(outputs.frame_weights, group))


def gather_mask(mask: torch.Tensor, group: Group) -> torch.Tensor:
    """A boolean (rows, ...) tensor of each rank, stacked in rank order (no gradient)."""
    if not group.active:
        return mask
    return gather_rows(mask.to(torch.uint8), group).bool()
