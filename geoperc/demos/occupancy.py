"""The occupancy demo: ``geoperc demo --task occupancy`` (VPOcc on a generated SemanticKITTI-format street).

1. Generate street scenes in the SemanticKITTI SSC layout (:func:`geoperc.testing.formats3d.write_ssc_street`:
   a ground plane of road / sidewalk / terrain, buildings, cars and trees as voxels, ray-cast into KITTI's
   camera with its depth map, and the exact vanishing point of the road) — sequence 00 to train on,
   08 held out.
2. Train the tiny VPOcc config (``configs/occupancy/vpocc/vpocc_tiny_1xb2_synth.py``) through
   :func:`geoperc.runner.train`.
3. Predict the held-out frames, score them with the SSC protocol (completion IoU, mIoU), write the
   predictions as benchmark ``.label`` files and the submission zip, the predicted and target voxels as
   coloured PLY (open3d) and PNGs: bird's-eye and camera views, prediction beside target (rendered
   headless with open3d when EGL is there; the bird's-eye PNG is drawn with numpy either way).
"""
import argparse
import json
import os
import os.path as osp
import time

import numpy as np

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEFAULT_CONFIG = osp.join(ROOT, 'configs', 'occupancy', 'vpocc', 'vpocc_tiny_1xb2_synth.py')


def bev_image(labels: np.ndarray, palette: np.ndarray, scale: int = 8) -> np.ndarray:
    """Bird's-eye view ``(Y * scale, X * scale, 3)`` uint8 RGB of an ``(X, Y, Z)`` label grid: the colour of the
    highest occupied voxel per column (forward = up, left = left), invalid (255) grey, empty white."""
    lab = np.asarray(labels)
    occ = (lab > 0) & (lab < 255)
    z = np.where(occ.any(2), lab.shape[2] - 1 - np.argmax(occ[:, :, ::-1], axis=2), -1)
    top = np.take_along_axis(lab, np.clip(z, 0, None)[..., None], 2)[..., 0]
    img = np.full(lab.shape[:2] + (3,), 255, np.uint8)
    img[(lab == 255).all(2)] = (170, 170, 170)
    img[z >= 0] = palette[top[z >= 0]]
    img = np.ascontiguousarray(img[::-1, ::-1])  # rows: x far -> near; columns: y left (+y) -> right
    return np.kron(img, np.ones((scale, scale, 1), np.uint8))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog='geoperc demo --task occupancy', description=__doc__.split('\n\n')[0])
    p.add_argument('--out', default='demo_output_occupancy', help='output folder')
    p.add_argument('--config', default=DEFAULT_CONFIG)
    p.add_argument('--iters', type=int, default=40, help='training iterations (default 40)')
    p.add_argument('--frames', type=int, default=10, help='generated training frames (default 10)')
    p.add_argument('--threads', type=int, default=1, help='torch CPU threads')
    args = p.parse_args(argv)
    import cv2
    import torch
    torch.set_num_threads(args.threads)
    t0 = time.time()
    out = osp.abspath(args.out)
    os.makedirs(out, exist_ok=True)

    from geoperc.testing.formats3d import write_ssc_street
    print('[1/4] generating SemanticKITTI-format street scenes ...', flush=True)
    data = osp.join(out, 'data')
    truth = write_ssc_street(data, {'00': args.frames, '08': 3}, seed=1)

    print('[2/4] training the tiny VPOcc (MMEngine runner) ...', flush=True)
    from geoperc.runner import train
    work_dir = osp.join(out, 'train')
    opts = {'data_root': data, 'train_cfg.max_iters': args.iters}
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):  # the VP files and depth maps too
        opts[f'{loader}.dataset.vp_root'] = osp.join(data, 'vanishing_points')
        opts[f'{loader}.dataset.pipeline.1.depth_root'] = osp.join(data, 'depth')
    runner = train(args.config, work_dir=work_dir, cfg_options=opts)

    print('[3/4] predicting the held-out sequence 08 ...', flush=True)
    from geoperc.evaluation.functional import ssc_confusion, ssc_metrics_from_confusion
    from geoperc.io.semantic_kitti import default_label_config, write_prediction_label, write_submission_zip
    model = runner.model.eval()
    loader = runner.test_dataloader
    preds, targets, cm = {}, {}, np.zeros((20, 20), np.int64)
    with torch.no_grad():
        for batch in loader:
            for s in model.test_step(batch):
                key = (s.metainfo['sequence'], s.metainfo['frame_id'])
                preds[key] = s.pred_occ.data.cpu().numpy().astype(np.uint8)
                targets[key] = s.gt_occ.data.cpu().numpy()
                cm += ssc_confusion(preds[key], targets[key], 20)
    m = ssc_metrics_from_confusion(cm, class_names=default_label_config().class_names())

    print('[4/4] writing labels, PLY and PNG ...', flush=True)
    pal = default_label_config().palette_rgb()
    res = osp.join(out, 'results')
    os.makedirs(res, exist_ok=True)
    for (seq, fid), pr in preds.items():
        write_prediction_label(osp.join(res, 'sequences', seq, 'predictions', fid + '.label'), pr)
    zip_path = write_submission_zip(osp.join(res, 'submission.zip'), preds, description='VPOcc tiny (geoperc demo)')
    key = sorted(preds)[0]
    tg = targets[key]
    pr = np.where(tg == 255, 255, preds[key]).astype(np.uint8)  # pictures: unobserved voxels are not drawn
    bev = np.concatenate([bev_image(pr, pal), np.zeros((pr.shape[0] * 8, 8, 3), np.uint8), bev_image(tg, pal)], 1)
    bev_png = osp.join(res, f'bev_pred_vs_target_{key[0]}_{key[1]}.png')
    cv2.imwrite(bev_png, bev[..., ::-1])
    outputs = {'bird\'s-eye PNG (prediction | target)': bev_png}
    try:
        from geoperc.io.pointcloud import RenderError, render_voxel_labels_png, write_voxel_labels
        vs, origin = truth['voxel_size'], truth['voxel_origin']
        outputs['predicted voxels (PLY)'] = write_voxel_labels(osp.join(res, 'pred.ply'), pr, pal, vs, origin)
        outputs['target voxels (PLY)'] = write_voxel_labels(osp.join(res, 'target.ply'), tg, pal, vs, origin)
        cam = np.linalg.inv(truth['Tr'])[:3, 3]
        fwd = np.asarray(origin) + np.array([pr.shape[0] * vs * 0.6, pr.shape[1] * vs / 2, 0.0])
        try:
            for name, lab in (('pred', pr), ('target', tg)):
                outputs[f'camera view {name} (PNG)'] = render_voxel_labels_png(
                    osp.join(res, f'camera_{name}.png'), lab, pal, vs, origin, eye=cam, center=fwd, width=480,
                    height=240, fov_deg=60.0, point_size=4.0)
        except RenderError as e:
            print(f'  (no headless open3d rendering here: {str(e)[:120]} ...)')
    except ImportError as e:  # open3d missing
        print(f'  (open3d not available, no PLY: {e})')
    metrics = dict(completion_iou=m['completion_iou'], miou=m['miou'], completion_precision=m['completion_precision'],
                   completion_recall=m['completion_recall'], class_iou=m['class_iou'], frames=len(preds))
    mpath = osp.join(res, 'metrics.json')
    with open(mpath + '.tmp', 'w', encoding='utf-8') as f:
        json.dump(metrics, f, indent=2)
    os.replace(mpath + '.tmp', mpath)

    print('\n== geoperc occupancy demo finished in %.0f s ==' % (time.time() - t0))
    print(f'generated data (SemanticKITTI layout)  {data}')
    print(f'training work dir                      {work_dir}')
    print(f'SSC metrics                            {mpath}')
    print(f'benchmark .label predictions           {osp.join(res, "sequences")}')
    print(f'submission zip                         {zip_path}')
    for k, v in outputs.items():
        print(f'{k:<39}{v}')
    print(f'held-out SC IoU {100 * m["completion_iou"]:.1f} / mIoU {100 * m["miou"]:.1f} '
          f'(precision {100 * m["completion_precision"]:.1f}, recall {100 * m["completion_recall"]:.1f})')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
