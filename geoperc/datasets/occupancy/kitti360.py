"""SSCBench-KITTI-360 semantic scene completion from a monocular image (the VPOcc KITTI-360 setting).

Li et al., "SSCBench: A Large-Scale 3D Semantic Scene Completion Benchmark for Autonomous Driving"
(2023); layout as read by the official VPOcc / Symphonies ``KITTI360`` dataset::

    <data_root>/data_2d_raw/<drive>/image_00/data_rect/<frame>.png     rectified left image (376 x 1408)
    <data_root>/data_2d_raw/<drive>/voxels/<frame>.bin[.label, .invalid] voxel grids (256 x 256 x 32)
    <label_root>/<drive>/<frame>_1_1.npy (and _1_2.npy)               preprocessed targets (0..18, 255)
    <vp_root>/seq_<drive>.json                                         VPOcc VPs, keys
                                                                       KITTI-360/<drive>/image_00/<frame>.png

One fixed calibration for every drive (:func:`geoperc.io.semantic_kitti.kitti360_calib`). Splits: train
drives 0000, 0002, 0003, 0004, 0005, 0007, 0010; val 0006; test 0009. 19 classes (0 = empty). Targets
come from ``label_root`` when given (the official route); otherwise from ``voxels/<frame>.label`` read as
class ids already in the 19-class space (SSCBench's voxel labels; values >= 19 other than 255 raise) with
``.invalid`` applied.
"""
import glob
import os.path as osp
from typing import List, Optional, Sequence

import numpy as np
from mmengine.dataset import BaseDataset

from geoperc.errors import DatasetError
from geoperc.io.semantic_kitti import (KITTI360_CLASSES, KITTI360_SPLIT_SEQUENCES, kitti360_calib,
                                       read_vanishing_points, read_voxel_bits, read_voxel_label)
from geoperc.registry import DATASETS

_PALETTE = [(0, 0, 0), (100, 150, 245), (100, 230, 245), (30, 60, 150), (80, 30, 180), (100, 80, 250),
            (255, 30, 30), (255, 0, 255), (255, 150, 255), (75, 0, 75), (175, 0, 75), (255, 200, 0),
            (255, 120, 50), (0, 175, 0), (150, 240, 80), (255, 240, 150), (255, 0, 0), (255, 150, 0),
            (50, 255, 255)]


@DATASETS.register_module()
class KITTI360SSCDataset(BaseDataset):
    """SSCBench-KITTI-360 in its release layout (see the module docstring).

    Args:
        data_root: folder holding ``data_2d_raw/``.
        split: ``'train'``, ``'val'`` or ``'test'``; ``sequences`` overrides it.
        label_root: preprocessed ``<drive>/<frame>_1_1.npy`` targets (None: read ``voxels/*.label``).
        vp_root: folder with ``seq_<drive>.json`` (None: the pipeline estimates VPs or reads its own).
        grid_shape: voxel grid (256, 256, 32).
        load_target: put ``gt_occ`` into each item.
    """

    def __init__(self, data_root: str, split: str = 'train', sequences: Optional[Sequence[str]] = None,
                 label_root: Optional[str] = None, vp_root: Optional[str] = None,
                 grid_shape: Sequence[int] = (256, 256, 32), load_target: bool = True, **kwargs):
        if sequences is None and split not in KITTI360_SPLIT_SEQUENCES:
            raise ValueError(f"split must be 'train', 'val' or 'test' (or give sequences=), got {split!r}")
        self.sequences = tuple(sequences) if sequences is not None else KITTI360_SPLIT_SEQUENCES[split]
        self.split, self.label_root, self.vp_root = split, label_root, vp_root
        self.grid_shape = tuple(int(s) for s in grid_shape)
        self.load_target = load_target
        meta = dict(classes=KITTI360_CLASSES, palette=_PALETTE, ignore_index=255, empty_index=0)
        meta.update(kwargs.pop('metainfo', None) or {})
        kwargs.setdefault('data_prefix', dict())
        super().__init__(data_root=data_root, metainfo=meta, **kwargs)

    def load_data_list(self) -> List[dict]:
        calib = kitti360_calib()
        P2, Tr = calib['P2'], calib['Tr']
        out = []
        for seq in self.sequences:
            sdir = osp.join(self.data_root, 'data_2d_raw', seq)
            vdir = osp.join(sdir, 'voxels')
            bins = sorted(glob.glob(osp.join(vdir, '*.bin')))
            if not bins:
                raise DatasetError(f'{vdir}: no voxels/*.bin (SSCBench-KITTI-360 layout expected)')
            vps = None
            if self.vp_root is not None:
                f = osp.join(self.vp_root, f'seq_{seq}.json')
                if not osp.isfile(f):
                    raise DatasetError(f'{f}: vanishing points not found')
                vps = {k.replace('\\', '/'): v for k, v in read_vanishing_points(f).items()}
            for b in bins:
                fid = osp.splitext(osp.basename(b))[0]
                img = osp.join(sdir, 'image_00', 'data_rect', fid + '.png')
                if not osp.isfile(img):
                    raise DatasetError(f'{img}: image of voxel frame {seq}/{fid} not found')
                info = dict(sample_idx=len(out), sequence=seq, frame_id=fid, img_path=img, cam_K=P2[:3, :3].copy(),
                            P2=P2, T_velo_2_cam=Tr, proj_matrix=P2 @ Tr, voxel_size=0.2,
                            voxel_origin=np.array([0.0, -25.6, -2.0]), grid_shape=self.grid_shape,
                            voxel_label_path=osp.join(vdir, fid + '.label'),
                            voxel_invalid_path=osp.join(vdir, fid + '.invalid'))
                if vps is not None:
                    key = f'KITTI-360/{seq}/image_00/{fid}.png'
                    hit = [v for k, v in vps.items() if k.endswith(key)]
                    if not hit:
                        raise DatasetError(f'{osp.join(self.vp_root, f"seq_{seq}.json")}: no VP for {key}')
                    info['vanishing_point'] = hit[0]
                out.append(info)
        return out

    def load_target_of(self, info: dict) -> Optional[np.ndarray]:
        if self.label_root is not None:
            p = osp.join(self.label_root, info['sequence'], info['frame_id'] + '_1_1.npy')
            if not osp.isfile(p):
                if self.split == 'test':
                    return None
                raise DatasetError(f'{p}: target not found')
            return np.load(p).astype(np.uint8)
        lp = info['voxel_label_path']
        if not osp.isfile(lp):
            return None
        lab = read_voxel_label(lp, self.grid_shape).astype(np.int64)
        bad = (lab >= len(KITTI360_CLASSES)) & (lab != 255)
        if bad.any():
            raise DatasetError(f'{lp}: label ids {np.unique(lab[bad])[:5]} are outside the 19 SSCBench classes')
        tgt = lab.astype(np.uint8)
        if osp.isfile(info['voxel_invalid_path']):
            tgt[read_voxel_bits(info['voxel_invalid_path'], self.grid_shape).astype(bool)] = 255
        return tgt

    def get_data_info(self, idx: int) -> dict:
        info = super().get_data_info(idx)
        if self.load_target:
            t = self.load_target_of(info)
            if t is not None:
                info['gt_occ'] = t
        return info
