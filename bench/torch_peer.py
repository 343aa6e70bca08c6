"""The plain-PyTorch peer of the framework's training-speed benchmark.

Trains, in ordinary PyTorch, the two models that bench/train_bench.cpp trains
through the C++ framework -- the AdaEnsemble network of the `paper` preset and
the DCN-V2 baseline -- with the same shapes, batch, optimizer and thread count,
and prints one JSON line with the throughput, so that the framework's
examples/s can be read beside what a competent PyTorch user gets from Python:

    build/bin/train_bench dump --data day_0.tsv --out /tmp/peerdata
    python3 bench/torch_peer.py --data /tmp/peerdata --model paper|dcnv2 \
        [--batch 4096] [--steps 20] [--warmup 3] [--threads 2] \
        [--top-k 3] [--controller 1]

`--data` is the directory `train_bench dump` writes: categorical.i64 (int64
[rows, C]), numeric.f32 (float32 [rows, N], NaN = missing), label.f32 ([rows])
and meta.json (rows, C, N and each categorical field's table rows). Its rows
are the first batches of the shuffle `train_bench train` reads, so both sides
see the same examples in the same order; the peer cycles through them.

The models follow the C++ modules layer for layer (src/model/ and the DcnV2
class of train_bench.cpp): same parameters and initialisation, same training
mode behaviour (gate noise, hard top-k routing, early exit), the same loss
terms, and Adam with the framework's default OptimizerConfig. Each part is an
nn.Module of stock operators. Where the framework only re-expresses an
operator with stock ones (the polynomial expert's field mixing as a single mm)
the peer does the same; the framework's hand-written fused attention kernel
has no counterpart here: attention is torch.matmul and F.softmax.
"""
import argparse
import json
import math
import os
import resource
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


# ~~~ Shared pieces ~~~


def init_linear(linear, gain=1.0):
    """Xavier-uniform weight times `gain`, zero bias (the framework's default)."""
    nn.init.xavier_uniform_(linear.weight, gain=gain)
    if linear.bias is not None:
        nn.init.zeros_(linear.bias)


def init_linear_relu(linear):
    """Kaiming-uniform weight for a layer followed by ReLU, zero bias."""
    nn.init.kaiming_uniform_(linear.weight, a=0.0, mode="fan_in", nonlinearity="relu")
    if linear.bias is not None:
        nn.init.zeros_(linear.bias)


def linear_flops(fan_in, fan_out, bias=True):
    """Forward FLOPs of one row through a linear map, a multiply-add counting 2."""
    return 2 * fan_in * fan_out + (fan_out if bias else 0)


class _Gelu(torch.autograd.Function):
    """F.gelu both ways, the incoming gradient made contiguous first: F.gelu's
    own backward in Debian's torch 1.13 returns wrong gradients when it is not,
    as for the attention keys (k.transpose). The framework's GELU is the same
    pair of kernels with the same fix."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return F.gelu(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return torch.ops.aten.gelu_backward(grad.contiguous(), x)


def gelu(x):
    return _Gelu.apply(x)


def flat_rows(x):
    # Sizes spelled out: -1 is ambiguous for an empty sub-batch.
    return x.reshape(x.size(0), x.size(1) * x.size(2))


class EmbeddingInput(nn.Module):
    """Categorical ids [B, C] and raw numeric values [B, N] -> X0 [B, N + C, D].

    Every categorical field has its own rows in one concatenated table, reached
    through per-field offsets, so a batch is one lookup. Numeric values are
    bucketed as floor(ln(x^2 + 1)) (capped at num_buckets - 3); negative values
    get bucket num_buckets - 2 and missing ones num_buckets - 1, each numeric
    field with its own num_buckets rows. Numeric fields come first in X0.
    """

    def __init__(self, cardinalities, num_numeric, dim=16, num_buckets=64, init_std=0.01):
        super().__init__()
        self.num_buckets = num_buckets
        # Set by --sparse: the categorical table's gradient is row-sparse.
        self.sparse = False
        offsets = np.concatenate([[0], np.cumsum(cardinalities)[:-1]]).astype(np.int64)
        self.register_buffer("categorical_offsets", torch.from_numpy(offsets))
        self.register_buffer("numeric_offsets", torch.arange(num_numeric) * num_buckets)
        self.categorical_table = nn.Parameter(torch.empty(int(sum(cardinalities)), dim))
        nn.init.normal_(self.categorical_table, 0.0, init_std)
        self.numeric_table = nn.Parameter(torch.empty(num_numeric * num_buckets, dim))
        nn.init.normal_(self.numeric_table, 0.0, init_std)

    def buckets(self, numeric):
        # In double, as the framework does, so that bucket edges agree exactly.
        x = numeric.double()
        ids = torch.floor(torch.log(x * x + 1.0)).clamp_max(self.num_buckets - 3)
        ids = ids.nan_to_num(0.0).long()
        ids = torch.where(x < 0, torch.full_like(ids, self.num_buckets - 2), ids)
        return torch.where(torch.isnan(x), torch.full_like(ids, self.num_buckets - 1), ids)

    def forward(self, categorical, numeric):
        numeric_rows = self.buckets(numeric) + self.numeric_offsets
        categorical_rows = categorical + self.categorical_offsets
        return torch.cat([F.embedding(numeric_rows, self.numeric_table),
                          F.embedding(categorical_rows, self.categorical_table,
                                      sparse=self.sparse)], 1)


# ~~~ Experts: (x_l, x0) [rows, F, D] -> [rows, F, D] ~~~


class DenseExpert(nn.Module):
    """MLP on the flat view: F*D -> min(F*D, 400) -> ReLU -> F*D."""

    def __init__(self, fields, dim):
        super().__init__()
        n = fields * dim
        self.hidden = nn.Linear(n, min(n, 400))
        init_linear_relu(self.hidden)
        self.output = nn.Linear(self.hidden.out_features, n)
        # Small output gain: the expert starts near zero beside the residual.
        init_linear(self.output, 0.1)

    def forward(self, x, x0):
        return self.output(F.relu(self.hidden(flat_rows(x)))).view_as(x)

    def flops_per_row(self):
        return (linear_flops(self.hidden.in_features, self.hidden.out_features)
                + linear_flops(self.output.in_features, self.output.out_features))


class CrossExpert(nn.Module):
    """DCN-V2 cross layer, full rank: x0 * (W x_l + b) on the flat view."""

    def __init__(self, fields, dim):
        super().__init__()
        n = fields * dim
        self.full = nn.Linear(n, n)
        init_linear(self.full)

    def forward(self, x, x0):
        return x0 * self.full(flat_rows(x)).view_as(x)

    def flops_per_row(self):
        n = self.full.in_features
        return linear_flops(n, n) + n


class PolynomialExpert(nn.Module):
    """xDeepInt PIN layer: x_l * (W x0), W [F, F] mixing whole field vectors."""

    def __init__(self, fields, dim):
        super().__init__()
        self.fields, self.dim = fields, dim
        self.weight = nn.Parameter(torch.empty(fields, fields))
        nn.init.xavier_uniform_(self.weight)

    def forward(self, x, x0):
        # (W x0)[r, i, d] = sum_j W[i, j] x0[r, j, d] as one [rows * D, F] x [F, F]
        # product, as the framework computes it: torch.matmul(W, x0) broadcasts
        # to a batched matmul, one small GEMM per row on a CPU build without MKL
        # (about 2x slower here).
        rows = x.size(0)
        mixed = torch.mm(x0.transpose(1, 2).reshape(rows * self.dim, self.fields), self.weight.t())
        return x * mixed.view(rows, self.dim, self.fields).transpose(1, 2)

    def flops_per_row(self):
        return 2 * self.fields * self.fields * self.dim + self.fields * self.dim


class CnnExpert(nn.Module):
    """Project to P = F // 2 positions of D channels, Conv1d (16 filters, kernel 4,
    `same` padding), ReLU, max-pool 2, flatten, linear back to F*D."""

    def __init__(self, fields, dim, filters=16, kernel=4):
        super().__init__()
        n = fields * dim
        self.dim, self.kernel, self.filters = dim, kernel, filters
        self.positions = max(1, fields // 2)
        self.pooled = self.positions // 2 if self.positions >= 2 else self.positions
        self.project = nn.Linear(n, self.positions * dim)
        self.conv = nn.Conv1d(dim, filters, kernel)
        self.output = nn.Linear(filters * self.pooled, n)
        init_linear(self.project)
        nn.init.kaiming_uniform_(self.conv.weight, a=0.0, mode="fan_in", nonlinearity="relu")
        nn.init.zeros_(self.conv.bias)
        init_linear(self.output, 0.1)

    def forward(self, x, x0):
        rows = x.size(0)
        h = self.project(flat_rows(x)).view(rows, self.positions, self.dim).transpose(1, 2)
        # `same` padding as torch pads it (the odd zero on the right), explicitly:
        # Conv1d(padding="same") warns and copies for an even kernel anyway.
        left = (self.kernel - 1) // 2
        h = F.relu(self.conv(F.pad(h, (left, self.kernel - 1 - left))))
        if h.size(2) >= 2:
            h = F.max_pool1d(h, 2)
        return self.output(h.reshape(rows, -1)).view_as(x)

    def flops_per_row(self):
        n = self.output.out_features
        return (linear_flops(n, self.positions * self.dim)
                + self.positions * (2 * self.kernel * self.dim * self.filters + self.filters)
                + linear_flops(self.filters * self.pooled, n))


class AttentionExpert(nn.Module):
    """AutoInt-like self-attention over fields: Q, K, V = GELU(Linear(D -> 4 x 8)),
    softmax(Q K^T / sqrt(8)) V per head, heads merged back to D, instance norm
    over the field axis, then Linear(F*D -> F*D) on the flat view."""

    def __init__(self, fields, dim, heads=4, head_dim=8):
        super().__init__()
        self.fields, self.dim, self.heads, self.head_dim = fields, dim, heads, head_dim
        width = heads * head_dim
        self.query = nn.Linear(dim, width)
        self.key = nn.Linear(dim, width)
        self.value = nn.Linear(dim, width)
        self.merge = nn.Linear(width, dim)
        self.norm_weight = nn.Parameter(torch.ones(dim))
        self.norm_bias = nn.Parameter(torch.zeros(dim))
        self.output = nn.Linear(fields * dim, fields * dim)
        for linear in (self.query, self.key, self.value, self.merge):
            init_linear(linear)
        init_linear(self.output, 0.1)

    def forward(self, x, x0):
        rows = x.size(0)

        def split(t):  # [rows, F, H h] -> [rows, H, F, h]
            return t.view(rows, self.fields, self.heads, self.head_dim).permute(0, 2, 1, 3)

        # Scaling q rather than the scores touches F / h times fewer elements.
        q = split(gelu(self.query(x)) * (1.0 / math.sqrt(self.head_dim)))
        k = split(gelu(self.key(x)))
        v = split(gelu(self.value(x)))
        mixed = torch.matmul(F.softmax(torch.matmul(q, k.transpose(-2, -1)), dim=-1), v)
        mixed = self.merge(mixed.permute(0, 2, 1, 3).reshape(rows, self.fields, -1))
        # Instance norm: statistics over the fields, per row and channel.
        mean = mixed.mean(1, keepdim=True)
        centered = mixed - mean
        var = centered.pow(2).mean(1, keepdim=True)
        normed = centered * torch.rsqrt(var + 1e-5) * self.norm_weight + self.norm_bias
        return self.output(flat_rows(normed)).view_as(x)

    def flops_per_row(self):
        f, d, width = self.fields, self.dim, self.heads * self.head_dim
        return (f * 3 * linear_flops(d, width) + 4 * self.heads * f * f * self.head_dim
                + f * linear_flops(width, d) + 2 * f * d + linear_flops(f * d, f * d))


EXPERTS = {"dense": DenseExpert, "cross": CrossExpert, "polynomial": PolynomialExpert,
           "cnn": CnnExpert, "attention": AttentionExpert}


# ~~~ Gating, dispatch and the routing losses ~~~


class NoisyCosineGate(nn.Module):
    """X0 -> scores [B, N]: cos(h, E_e) / T with h = FFN(flat X0 * noise).

    The input's gradient is stopped; training multiplies it by U(1 - eps, 1 + eps)
    noise. FFN: Linear(F*D -> F*D / r) -> ReLU -> Linear(-> 16). T = 0.01 +
    softplus(raw), starting at 1.
    """

    MIN_TEMPERATURE = 0.01

    def __init__(self, input_dim, num_outputs, reduction=16, gate_dim=16, noise_eps=0.5,
                 temperature=1.0):
        super().__init__()
        self.input_dim, self.num_outputs, self.noise_eps = input_dim, num_outputs, noise_eps
        self.reduce = nn.Linear(input_dim, max(1, input_dim // reduction))
        self.project = nn.Linear(self.reduce.out_features, gate_dim)
        init_linear(self.reduce)
        init_linear(self.project)
        self.expert_embeddings = nn.Parameter(torch.empty(num_outputs, gate_dim))
        nn.init.xavier_uniform_(self.expert_embeddings)
        excess = temperature - self.MIN_TEMPERATURE
        self.raw_temperature = nn.Parameter(
            torch.tensor(excess + math.log(-math.expm1(-excess))))  # inverse softplus

    def temperature(self):
        # softplus written out: F.softplus of Debian's torch 1.13 can read an
        # uninitialised value (the framework writes it out for the same reason).
        raw = self.raw_temperature
        return raw.clamp_min(0.0) + torch.log1p(torch.exp(-raw.abs())) + self.MIN_TEMPERATURE

    def forward(self, x0):
        flat = x0.reshape(x0.size(0), self.input_dim).detach()
        if self.training and self.noise_eps > 0:
            flat = flat * torch.empty_like(flat).uniform_(1.0 - self.noise_eps,
                                                          1.0 + self.noise_eps)
        h = self.project(F.relu(self.reduce(flat)))
        scores = torch.matmul(F.normalize(h, dim=1), F.normalize(self.expert_embeddings, dim=1).t())
        return scores / self.temperature()

    def flops_per_row(self):
        hidden, g, n = self.reduce.out_features, self.project.out_features, self.num_outputs
        noise = self.input_dim if self.training and self.noise_eps > 0 else 0
        return (noise + linear_flops(self.input_dim, hidden) + linear_flops(hidden, g)
                + 3 * g + linear_flops(g, n))


def top_k_softmax(scores, k):
    """Softmax over each row's k largest scores, zeros elsewhere; and the kept mask."""
    values, indices = scores.topk(k, dim=1)
    gates = torch.zeros_like(scores).scatter(1, indices, F.softmax(values, dim=1))
    mask = torch.zeros_like(scores, dtype=torch.bool).scatter_(1, indices, True)
    return gates, mask


def argmax_indicator(scores):
    """[B, N] one-hot of each row's highest score (the paper's count of f_j)."""
    return torch.zeros_like(scores).scatter_(1, scores.argmax(1, keepdim=True), 1.0)


def load_distribution_loss(scores, dispatched, alpha=1.0):
    """alpha * sum_j f_j P_j / F_j under a uniform prior F_j = 1 / N."""
    if scores.size(0) == 0:
        return scores.new_zeros(())
    probability = F.softmax(scores, dim=1).mean(0)
    fraction = dispatched.mean(0)
    expected = torch.full((scores.size(1),), 1.0 / scores.size(1))
    return alpha * (fraction * probability / expected).sum()


def router_z_loss(scores):
    if scores.size(0) == 0:
        return scores.new_zeros(())
    return torch.logsumexp(scores, 1).pow(2).mean()


def dispatch_and_combine(experts, x, x0, weights, mask):
    """sum_e weights[:, e] * expert_e(x, x0), each expert run only on its rows.

    Returns the combined [B, F, D] output and the rows each expert ran on.
    """
    batch = x.size(0)
    counts = mask.sum(0).tolist()
    # (expert, row) pairs, expert-major, split into each expert's rows.
    rows_of = mask.t().nonzero()[:, 1].split(counts)
    dense_sum, rows_list, outputs = None, [], []
    for e, expert in enumerate(experts):
        n = counts[e]
        if n == 0:
            continue
        if n == batch:  # every row routed here: no gather or scatter
            out = expert(x, x0) * weights[:, e].view(n, 1, 1)
            dense_sum = out if dense_sum is None else dense_sum + out
        else:
            rows = rows_of[e]
            out = expert(x.index_select(0, rows), x0.index_select(0, rows))
            outputs.append(out * weights[:, e].index_select(0, rows).view(n, 1, 1))
            rows_list.append(rows)
    combined = dense_sum if dense_sum is not None else torch.zeros_like(x)
    if outputs:
        combined = combined.index_add(0, torch.cat(rows_list), torch.cat(outputs))
    return combined, counts


class SparseMoELayer(nn.Module):
    """x_{l+1} = LayerNorm(x_l + sum_{e in top-k} g_e expert_e(x_l, x0)), the
    gate scoring X0; returns the output, the balance loss and the z-loss."""

    def __init__(self, fields, dim, expert_names, top_k, alpha=1.0, z_loss=0.0):
        super().__init__()
        n = fields * dim
        self.flat, self.top_k, self.alpha, self.z_coefficient = n, top_k, alpha, z_loss
        # Experts first, then the gate: the framework's construction order.
        experts = [EXPERTS[name](fields, dim) for name in expert_names]
        self.gate = NoisyCosineGate(n, len(experts))
        self.experts = nn.ModuleList(experts)
        self.layer_norm = nn.LayerNorm(n)
        self.flops = 0.0  # forward FLOPs of the rows seen since the last reset

    def forward(self, x, x0):
        rows = x.size(0)
        scores = self.gate(x0)
        gates, mask = top_k_softmax(scores, self.top_k)
        mixed, counts = dispatch_and_combine(self.experts, x, x0, gates, mask)
        out = self.layer_norm((x + mixed).reshape(rows, self.flat)).view_as(x)
        balance = load_distribution_loss(scores, argmax_indicator(scores), self.alpha)
        z = (self.z_coefficient * router_z_loss(scores) if self.z_coefficient > 0
             else scores.new_zeros(()))
        # Experts plus weighting and summing; gate, residual and norm per row.
        self.flops += sum(c * (expert.flops_per_row() + 2 * self.flat)
                          for c, expert in zip(counts, self.experts))
        self.flops += rows * (self.gate.flops_per_row() + self.flat + 4 * self.flat)
        return out, balance, z


class Estimator(nn.Module):
    """One layer's prediction head: Linear(F*D -> 1) on the flat x_l."""

    def __init__(self, input_dim):
        super().__init__()
        self.linear = nn.Linear(input_dim, 1)

    def forward(self, x):
        return self.linear(x.reshape(x.size(0), self.linear.in_features)).squeeze(1)

    def flops_per_row(self):
        return linear_flops(self.linear.in_features, 1)


# ~~~ The models ~~~


class AdaEnsemble(nn.Module):
    """Embedding input -> L SparseMoE layers -> depth controller.

    With the controller, a noisy cosine router over the layers picks each row's
    exit (top-1) from X0; after layer d the rows exiting there go to estimator
    d and stop, the rest continue, so deeper layers see only the rows that
    reach them (hard routing, Algorithm 1). Without it, every row runs all
    layers and the last estimator predicts.
    """

    def __init__(self, cardinalities, num_numeric, dim=16, num_layers=4,
                 expert_names=("dense", "cross", "polynomial", "cnn", "attention"), top_k=3,
                 controller=True, alpha=1.0, depth_alpha=1.0, z_loss=0.0):
        super().__init__()
        fields = num_numeric + len(cardinalities)
        n = fields * dim
        self.controller, self.depth_alpha, self.z_coefficient = controller, depth_alpha, z_loss
        self.moe_layers = nn.ModuleList(
            [SparseMoELayer(fields, dim, expert_names, top_k, alpha, z_loss)
             for _ in range(num_layers)])
        self.router = NoisyCosineGate(n, num_layers) if controller else None
        # Disabled, only the last layer has an estimator.
        self.estimators = nn.ModuleList(
            [Estimator(n) for _ in range(num_layers if controller else 1)])
        # Layers, controller, then the tables: the order in which the framework
        # draws the initial values, so that the same seed gives the same weights
        # (and both sides can be checked against each other loss for loss).
        self.embedding = EmbeddingInput(cardinalities, num_numeric, dim)
        self.flops = 0.0

    def take_flops(self):
        """Forward FLOPs since the last call, and clears them."""
        total = self.flops + sum(layer.flops for layer in self.moe_layers)
        self.flops = 0.0
        for layer in self.moe_layers:
            layer.flops = 0.0
        return total

    def forward(self, categorical, numeric):
        x0 = self.embedding(categorical, numeric)
        rows = x0.size(0)
        zero = x0.new_zeros(())
        expert_balance, depth_balance, z_loss = zero, zero, zero
        if not self.controller:
            x = x0
            for layer in self.moe_layers:
                x, balance, z = layer(x, x0)
                expert_balance, z_loss = expert_balance + balance, z_loss + z
            self.flops += rows * self.estimators[-1].flops_per_row()
            return self.estimators[-1](x), expert_balance, depth_balance, z_loss

        depth_scores = self.router(x0)
        depth_balance = load_distribution_loss(depth_scores, argmax_indicator(depth_scores),
                                               self.depth_alpha)
        if self.z_coefficient > 0:
            z_loss = z_loss + self.z_coefficient * router_z_loss(depth_scores)
        self.flops += rows * self.router.flops_per_row()
        exits = depth_scores.argmax(1)
        x, x0_rows = x0, x0
        index = torch.arange(rows)
        exit_index, exit_logits = [], []
        last = len(self.moe_layers) - 1
        for d, layer in enumerate(self.moe_layers):
            if x.size(0) == 0:
                break
            x, balance, z = layer(x, x0_rows)
            expert_balance, z_loss = expert_balance + balance, z_loss + z
            leave = torch.ones_like(exits, dtype=torch.bool) if d == last else exits.eq(d)
            leaving = leave.nonzero().squeeze(1)
            if leaving.size(0) == 0:
                continue
            exit_logits.append(self.estimators[d](x.index_select(0, leaving)))
            exit_index.append(index.index_select(0, leaving))
            self.flops += leaving.size(0) * self.estimators[d].flops_per_row()
            if d == last:
                break
            staying = leave.logical_not().nonzero().squeeze(1)
            x = x.index_select(0, staying)
            x0_rows = x0_rows.index_select(0, staying)
            exits = exits.index_select(0, staying)
            index = index.index_select(0, staying)
        # Predictions back in input order.
        logits = x0.new_zeros(rows)
        if exit_logits:
            logits = logits.index_copy(0, torch.cat(exit_index), torch.cat(exit_logits))
        return logits, expert_balance, depth_balance, z_loss


class DcnV2(nn.Module):
    """DCN-V2 (parallel): three full-rank cross layers x <- x + x0 * (W x + b) on
    X0 beside an MLP 624-500-500-500 (ReLU) on the flat X0; Linear(624 + 500 -> 1)
    on both outputs concatenated."""

    def __init__(self, cardinalities, num_numeric, dim=16, hidden=500):
        super().__init__()
        fields = num_numeric + len(cardinalities)
        n = fields * dim
        self.flat = n
        self.embedding = EmbeddingInput(cardinalities, num_numeric, dim)
        self.cross = nn.ModuleList([CrossExpert(fields, dim) for _ in range(3)])
        self.mlp = nn.ModuleList([nn.Linear(n if i == 0 else hidden, hidden) for i in range(3)])
        self.head = nn.Linear(n + hidden, 1)
        self.flops = 0.0

    def flops_per_row(self):
        n, hidden = self.flat, self.mlp[0].out_features
        cross = sum(layer.flops_per_row() + n for layer in self.cross)  # + residual
        mlp = sum(linear_flops(m.in_features, m.out_features) for m in self.mlp) + 3 * hidden
        return cross + mlp + linear_flops(n + hidden, 1)

    def take_flops(self):
        total, self.flops = self.flops, 0.0
        return total

    def forward(self, categorical, numeric):
        x0 = self.embedding(categorical, numeric)
        rows = x0.size(0)
        x = x0
        for layer in self.cross:
            x = x + layer(x, x0)
        h = x0.reshape(rows, self.flat)
        for layer in self.mlp:
            h = F.relu(layer(h))
        logits = self.head(torch.cat([x.reshape(rows, self.flat), h], 1)).squeeze(1)
        self.flops += rows * self.flops_per_row()
        zero = x0.new_zeros(())
        return logits, zero, zero, zero


# ~~~ Training ~~~


def load_batches(directory):
    """The dumped arrays as tensors: categorical, numeric, label, and the meta data."""
    with open(os.path.join(directory, "meta.json")) as file:
        meta = json.load(file)
    rows, c, n = meta["rows"], meta["categorical"], meta["numeric"]

    def read(name, dtype, shape):
        array = np.fromfile(os.path.join(directory, name), dtype=dtype)
        if array.size != int(np.prod(shape)):
            raise SystemExit("{}: expected {} values, found {}".format(name, np.prod(shape),
                                                                     array.size))
        return torch.from_numpy(array.reshape(shape))

    return (read("categorical.i64", "<i8", (rows, c)), read("numeric.f32", "<f4", (rows, n)),
            read("label.f32", "<f4", (rows,)), meta)


def cycle(tensors, batch):
    """Yields consecutive `batch`-row slices of `tensors`, wrapping around."""
    rows = tensors[0].size(0)
    start = 0
    while True:
        if start + batch <= rows:
            yield [t[start:start + batch] for t in tensors]
        else:
            index = torch.arange(start, start + batch) % rows
            yield [t.index_select(0, index) for t in tensors]
        start = (start + batch) % rows


class SparseAndDense:
    """torch.optim.SparseAdam for the row-sparse categorical table beside Adam
    for everything else: stock PyTorch's lazy-update counterpart of the
    framework's row-sparse Adam (`--sparse 1`)."""

    def __init__(self, sparse, dense):
        self.optimizers = [torch.optim.SparseAdam(sparse, lr=1e-3, betas=(0.9, 0.999), eps=1e-8),
                           torch.optim.Adam(dense, lr=1e-3, betas=(0.9, 0.999), eps=1e-8)]

    def zero_grad(self):
        for optimizer in self.optimizers:
            optimizer.zero_grad()

    def step(self):
        for optimizer in self.optimizers:
            optimizer.step()


def make_optimizer(model, sparse):
    """Adam as the framework's default OptimizerConfig builds it: lr 1e-3,
    betas (0.9, 0.999), eps 1e-8, no weight decay, with the embedding tables in
    a group of their own (embedding weight decay, also 0). With `sparse` the
    categorical table goes to SparseAdam instead."""
    embeddings = list(model.embedding.parameters())
    embedding_ids = {id(p) for p in embeddings}
    dense = [p for p in model.parameters() if id(p) not in embedding_ids]
    if sparse:
        table = model.embedding.categorical_table
        return SparseAndDense([table], dense + [p for p in embeddings if p is not table])
    return torch.optim.Adam([{"params": dense, "weight_decay": 0.0},
                             {"params": embeddings, "weight_decay": 0.0}],
                            lr=1e-3, betas=(0.9, 0.999), eps=1e-8)


def train_step(model, optimizer, categorical, numeric, label):
    optimizer.zero_grad()
    logits, expert_balance, depth_balance, z_loss = model(categorical, numeric)
    loss = (F.binary_cross_entropy_with_logits(logits, label) + expert_balance + depth_balance
            + z_loss)
    value = loss.item()
    loss.backward()
    optimizer.step()
    return value


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="directory of `train_bench dump`")
    parser.add_argument("--model", required=True, choices=["paper", "dcnv2"])
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--top-k", type=int, default=3)
    parser.add_argument("--controller", type=int, default=1)
    parser.add_argument("--sparse", type=int, default=0,
                        help="1: row-sparse categorical gradients with SparseAdam")
    args = parser.parse_args()
    if args.steps < 1 or args.warmup < 0 or args.batch < 1:
        parser.error("--steps and --batch must be >= 1, --warmup >= 0")
    if args.model == "paper" and not 1 <= args.top_k <= 5:
        parser.error("--top-k must be in [1, 5] (the number of experts)")

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    categorical, numeric, label, meta = load_batches(args.data)
    if args.model == "dcnv2":
        model = DcnV2(meta["cardinalities"], meta["numeric"])
    else:
        model = AdaEnsemble(meta["cardinalities"], meta["numeric"], top_k=args.top_k,
                            controller=args.controller != 0)
    model.train()
    model.embedding.sparse = args.sparse != 0
    optimizer = make_optimizer(model, args.sparse != 0)

    batches = cycle([categorical, numeric, label], args.batch)
    loss = 0.0
    rows = 0
    start = time.perf_counter()
    for step in range(args.warmup + args.steps):
        if step == args.warmup:
            model.take_flops()  # drop the warm-up's counts
            rows = 0
            start = time.perf_counter()
        batch_categorical, batch_numeric, batch_label = next(batches)
        loss = train_step(model, optimizer, batch_categorical, batch_numeric, batch_label)
        rows += batch_label.size(0)
    seconds = time.perf_counter() - start
    flops = model.take_flops()

    print(json.dumps({
        "case": "train", "impl": "pytorch", "model": args.model, "batch": args.batch,
        "top_k": args.top_k, "controller": args.controller, "sparse": args.sparse,
        "steps": args.steps,
        "examples_per_s": round(rows / seconds, 1),
        "step_ms": round(seconds / args.steps * 1e3, 2),
        "forward_mflops_per_example": round(flops / rows / 1e6, 4),
        "parameters": sum(p.numel() for p in model.parameters()),
        "loss": round(loss, 5),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "threads": torch.get_num_threads(),
    }), flush=True)


if __name__ == "__main__":
    main()
