#!/usr/bin/env python
"""OmniFusion: parameters, forward and forward+backward time, peak memory, and the merge step's cost.

Cases (each in its own subprocess, so peak RSS is that case's alone; random weights, random input,
batch 1, ``--threads`` torch threads, 1 by default: on a shared machine the only stable measurement):

* ``p256``: 512 x 1024 ERP, 18 patches of 256 px (Stanford2D3D / Matterport3D configs);
* ``p128``: 256 x 512 ERP, 18 patches of 128 px (360D config);

each with refinement (``iters=2``, the official ``net(x, iter=2)``) and without (``iters=1``):

* ``forward``: ``eval()`` + ``no_grad``, best of ``--iters`` after a warm-up (the warm-up also fills the
  merge-weight cache, as any first batch does);
* ``fwd+bwd``: ``train()``, BerHu loss of every pass + backward, best of ``--iters``;
* ``peak RSS``: the subprocess's ``ru_maxrss``.

Wall times and the process's CPU times are both reported (with one thread the CPU time is what the
computation costs when the machine is shared).

The merge step (patch depth + confidence -> ERP; CPU time) is timed with the cached weights (the
model's sparse CSR product, and the equivalent gather) and with the weights computed on every call (what a cache miss costs; the official ``pers2equi`` recomputes its bilinear
weights' normalisation on every call and reads its grid from ``./grid``).

Official code on this kind of machine (METHODS.md section 8, 1 thread, batch 1, ``iter=2``):
256 x 512 / 128 px 2.58 s forward, 6.64 s forward+backward, 2.6 GB; 512 x 1024 / 256 px 13.9 s, 34.9 s,
6.6 GB.

Usage::

    python bench/depth.py                        # all cases
    python bench/depth.py --cases p128 --iters 2 --json out.json
"""
import argparse
import json
import os
import os.path as osp
import subprocess
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CASES = {'p256': dict(patch=256, erp=(512, 1024)), 'p128': dict(patch=128, erp=(256, 512))}
REFERENCE = {('p128', 2): dict(forward_s=2.58, fwd_bwd_s=6.64, peak_rss_gb=2.6),
             ('p256', 2): dict(forward_s=13.9, fwd_bwd_s=34.9, peak_rss_gb=6.6)}


def _child(case: str, iters_model: int, repeat: int, threads: int) -> dict:
    import resource

    import torch
    torch.set_num_threads(threads)
    sys.path.insert(0, ROOT)
    from geoperc.models.depth import OmniFusion
    from geoperc.models.depth.tangent import apply_merge, compute_merge_weights, merge_key
    c = CASES[case]
    H, W = c['erp']
    torch.manual_seed(0)
    model = OmniFusion(patch_size=c['patch'], iters=iters_model)
    x = torch.rand(1, 3, H, W)
    gt = torch.rand(1, 1, H, W) * 7 + 0.5
    out = dict(case=case, iters=iters_model, erp=[H, W], patch=c['patch'], threads=threads,
               params=sum(p.numel() for p in model.parameters()))
    model.eval()
    times, cpu = [], []
    with torch.no_grad():
        for _ in range(repeat + 1):
            t0, c0 = time.perf_counter(), time.process_time()
            model.forward_passes(x, iters_model)
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
    out['forward_s'] = min(times[1:])
    out['forward_cpu_s'] = min(cpu[1:])
    out['forward_first_s'] = times[0]
    model.train()
    times, cpu = [], []
    for _ in range(repeat + 1):
        t0, c0 = time.perf_counter(), time.process_time()
        preds = model.forward_passes(x, iters_model)
        loss = sum(model.loss_depth(p, gt, gt > 0) for p in preds) / len(preds)
        loss.backward()
        model.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    out['fwd_bwd_s'] = min(times[1:])
    out['fwd_bwd_cpu_s'] = min(cpu[1:])
    out['peak_rss_gb'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20
    # merge step: 18 patches of depth + confidence -> ERP (the model's sparse path, and the gather)
    from geoperc.models.depth.tangent import apply_merge_sparse, merge_matrices
    maps = torch.rand(1, 2, 18, c['patch'], c['patch'])
    key = merge_key(4, c['patch'], (H, W), model.fov)
    W_, Wt = model.merge_cache.get_sparse(key)
    idx, w = model.merge_cache.get(key)

    def best(fn, n=max(repeat, 3)):
        t = []
        for _ in range(n):
            c0 = time.process_time()
            fn()
            t.append(time.process_time() - c0)
        return min(t)
    out['merge_cached_s'] = best(lambda: apply_merge_sparse(maps, W_, Wt, (H, W)))
    out['merge_gather_s'] = best(lambda: apply_merge(maps, idx, w, (H, W)))

    def uncached():
        i, ww = compute_merge_weights(4, c['patch'], (H, W), model.fov)
        apply_merge_sparse(maps, *merge_matrices(i, ww, 18 * c['patch'] ** 2), (H, W))
    out['merge_uncached_s'] = best(uncached, 1)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--cases', nargs='+', default=list(CASES), choices=list(CASES))
    p.add_argument('--model-iters', nargs='+', type=int, default=[2, 1], help='refinement passes to bench')
    p.add_argument('--iters', type=int, default=2, help='timed repetitions after the warm-up')
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--json', help='write the results here')
    p.add_argument('--child', nargs=2, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(_child(args.child[0], int(args.child[1]), args.iters, args.threads)))
        return 0
    results = []
    for case in args.cases:
        for it in args.model_iters:
            env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
            r = subprocess.run([sys.executable, __file__, '--child', case, str(it), '--iters', str(args.iters),
                                '--threads', str(args.threads)], capture_output=True, text=True, env=env)
            if r.returncode:
                print(r.stderr[-2000:], file=sys.stderr)
                return r.returncode
            res = json.loads(r.stdout.strip().splitlines()[-1])
            res['official'] = REFERENCE.get((case, it))
            results.append(res)
            ref = res['official']
            print(f"{case} {res['erp'][0]}x{res['erp'][1]} iters={it}: {res['params']:,} params, forward "
                  f"{res['forward_s']:.2f} s (CPU {res['forward_cpu_s']:.2f} s), fwd+bwd {res['fwd_bwd_s']:.2f} s "
                  f"(CPU {res['fwd_bwd_cpu_s']:.2f} s), peak RSS {res['peak_rss_gb']:.2f} GB"
                  + (f"  (official {ref['forward_s']} / {ref['fwd_bwd_s']} s, {ref['peak_rss_gb']} GB)" if ref else '')
                  + f"; merge (CPU) {res['merge_cached_s'] * 1e3:.1f} ms cached ({res['merge_gather_s'] * 1e3:.0f} ms "
                  f"as a gather), {res['merge_uncached_s']:.2f} s uncached",
                  flush=True)
    if args.json:
        with open(args.json + '.tmp', 'w') as f:
            json.dump(results, f, indent=2)
        os.replace(args.json + '.tmp', args.json)
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
