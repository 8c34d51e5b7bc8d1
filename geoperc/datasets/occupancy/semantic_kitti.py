"""SemanticKITTI semantic scene completion from a monocular image (the VPOcc / MonoScene setting).

Behley et al., ICCV 2019 (SemanticKITTI); Kim et al., IROS 2025 (VPOcc). Reads the release layout
directly (see :mod:`geoperc.io.semantic_kitti` for every format fact): one sample per voxelised frame
(every 5th frame), with the left image, the calibration, the SSC target and, when VPOcc's files are
given, the frame's vanishing point.

Each item (before the pipeline) is a dict with::

    img_path         sequences/XX/image_2/NNNNNN.png
    sequence, frame_id, sample_idx
    cam_K (3, 3), P2 (3, 4), T_velo_2_cam (4, 4), proj_matrix (3, 4) = P2 @ Tr   (float64)
    voxel_size 0.2, voxel_origin (0, -25.6, -2), grid_shape (256, 256, 32)
    voxel_bin_path / voxel_label_path / voxel_invalid_path / voxel_occluded_path (None when absent)
    gt_occ           (X, Y, Z) uint8, learning ids 0..19 (0 = empty), 255 = invalid   [load_target]
    vanishing_point  (2,) float64 (x, y) pixels                                     [vp_root given]
    pose             (4, 4) camera-0 pose                                           [load_pose]

The test split (11-21) has no labels: items carry no ``gt_occ``.
"""
import glob
import os.path as osp
from typing import List, Optional, Sequence

import numpy as np
from mmengine.dataset import BaseDataset

from geoperc.io.semantic_kitti import (SPLIT_SEQUENCES, VOXEL_DIMS, VOXEL_ORIGIN, VOXEL_SIZE, completion_remap_lut,
                                       find_sequences_root, load_label_config, lookup_vanishing_point, read_calib,
                                       read_poses, read_ssc_target, read_vanishing_points)
from geoperc.registry import DATASETS

_SPLIT_ALIASES = {'valid': 'val', 'validation': 'val'}


@DATASETS.register_module()
class SemanticKITTISSCDataset(BaseDataset):
    """SemanticKITTI SSC in its release layout.

    Args:
        data_root (str): folder holding ``sequences/`` (or KITTI odometry's ``dataset/sequences/``).
        split (str): ``'train'`` (00-07, 09, 10), ``'val'`` (08), ``'test'`` (11-21) or ``'trainval'``.
        sequences (list[str], optional): explicit sequence names, overriding ``split``.
        label_config (str, optional): a ``semantic-kitti.yaml``-style file; default: the standard
            20-class map built into :mod:`geoperc.io.semantic_kitti`.
        vp_root (str, optional): folder with VPOcc's ``seq_XX.json``; a frame without an entry raises.
        grid_shape (tuple): voxel grid shape (256, 256, 32 in the release; smaller only for tests).
        frame_interval (int, optional): keep frames whose number is a multiple of this (the release
            voxelises every 5th frame, so the default None keeps exactly the released ones).
        load_target (bool): read the SSC target into ``gt_occ`` when an item is fetched.
        apply_invalid (bool): set voxels flagged in ``.invalid`` to 255 (the benchmark protocol).
        load_pose (bool): add the frame's camera-0 ``pose`` from ``poses.txt``.
        **kwargs: the rest of MMEngine's ``BaseDataset`` arguments (``pipeline``, ``test_mode``, ...).
    """

    def __init__(self, data_root: str, split: Optional[str] = 'train', sequences: Optional[Sequence[str]] = None,
                 label_config: Optional[str] = None, vp_root: Optional[str] = None,
                 grid_shape: Sequence[int] = VOXEL_DIMS, frame_interval: Optional[int] = None,
                 load_target: bool = True, apply_invalid: bool = True, load_pose: bool = False,
                 metainfo: Optional[dict] = None, **kwargs):
        self.label_config = load_label_config(label_config)
        self.split = _SPLIT_ALIASES.get(split, split)
        if sequences is not None:
            self.sequences = tuple(f'{int(s):02d}' if str(s).isdigit() else str(s) for s in sequences)
        elif self.split == 'trainval':
            self.sequences = SPLIT_SEQUENCES['train'] + SPLIT_SEQUENCES['val']
        elif self.split in SPLIT_SEQUENCES:
            self.sequences = SPLIT_SEQUENCES[self.split]
        else:
            raise ValueError(f"split must be 'train', 'val', 'test' or 'trainval' (or give sequences=), "
                             f'got {split!r}')
        self.vp_root = vp_root
        self.grid_shape = tuple(int(s) for s in grid_shape)
        self.frame_interval = frame_interval
        self.load_target = load_target
        self.apply_invalid = apply_invalid
        self.load_pose = load_pose
        self._lut = completion_remap_lut(self.label_config.learning_map)
        meta = dict(classes=self.label_config.class_names(),
                    palette=[tuple(int(c) for c in rgb) for rgb in self.label_config.palette_rgb()],
                    ignore_index=255, empty_index=0)
        meta.update(metainfo or {})
        kwargs.setdefault('data_prefix', dict())
        super().__init__(data_root=data_root, metainfo=meta, **kwargs)

    def load_data_list(self) -> List[dict]:
        seq_root = find_sequences_root(self.data_root)
        data_list = []
        for seq in self.sequences:
            sdir = osp.join(seq_root, seq)
            if not osp.isdir(sdir):
                raise FileNotFoundError(f'sequence folder not found: {sdir}')
            calib = read_calib(osp.join(sdir, 'calib.txt'))
            P2, Tr = calib['P2'], calib['Tr']
            poses = read_poses(osp.join(sdir, 'poses.txt')) if self.load_pose else None
            vps = None
            if self.vp_root is not None:
                vp_file = osp.join(self.vp_root, f'seq_{seq}.json')
                if not osp.isfile(vp_file):
                    raise FileNotFoundError(f'vanishing points not found: {vp_file} (VPOcc seq_XX.json)')
                vps = read_vanishing_points(vp_file)
            vdir = osp.join(sdir, 'voxels')
            labels = sorted(glob.glob(osp.join(vdir, '*.label')))
            lead = labels if labels else sorted(glob.glob(osp.join(vdir, '*.bin')))
            if not lead:
                raise FileNotFoundError(f'no voxels/*.label or voxels/*.bin in {vdir}')
            for path in lead:
                frame_id = osp.splitext(osp.basename(path))[0]
                if self.frame_interval and int(frame_id) % self.frame_interval:
                    continue
                stem = osp.join(vdir, frame_id)
                img = osp.join(sdir, 'image_2', frame_id + '.png')
                if not osp.isfile(img):
                    raise FileNotFoundError(f'image for voxel frame {seq}/{frame_id} not found: {img}')
                info = dict(sample_idx=len(data_list), sequence=seq, frame_id=frame_id, img_path=img,
                            cam_K=P2[:3, :3].copy(), P2=P2, T_velo_2_cam=Tr, proj_matrix=P2 @ Tr,
                            voxel_size=VOXEL_SIZE, voxel_origin=np.asarray(VOXEL_ORIGIN),
                            grid_shape=self.grid_shape)
                for key, ext in (('voxel_bin_path', '.bin'), ('voxel_label_path', '.label'),
                                 ('voxel_invalid_path', '.invalid'), ('voxel_occluded_path', '.occluded')):
                    info[key] = stem + ext if osp.isfile(stem + ext) else None
                if info['voxel_label_path'] and self.apply_invalid and not info['voxel_invalid_path']:
                    raise FileNotFoundError(f'{stem}.label has no {frame_id}.invalid next to it '
                                            '(pass apply_invalid=False to evaluate without it)')
                if vps is not None:
                    vp = lookup_vanishing_point(vps, seq, frame_id)
                    if vp is None:
                        raise KeyError(f'no vanishing point for sequences/{seq}/image_2/{frame_id}.png in '
                                       f'{osp.join(self.vp_root, f"seq_{seq}.json")}')
                    info['vanishing_point'] = vp
                if poses is not None:
                    if int(frame_id) >= len(poses):
                        raise ValueError(f'{sdir}/poses.txt has {len(poses)} poses, no pose for {frame_id}')
                    info['pose'] = poses[int(frame_id)]
                data_list.append(info)
        if not data_list:
            raise ValueError(f'no frames found for sequences {self.sequences} under {seq_root}')
        return data_list

    def load_target_of(self, info: dict) -> Optional[np.ndarray]:
        """SSC target ``(X, Y, Z)`` uint8 of an item (None for unlabelled frames)."""
        if not info.get('voxel_label_path'):
            return None
        inv = info.get('voxel_invalid_path') if self.apply_invalid else None
        return read_ssc_target(info['voxel_label_path'], inv, self._lut, self.grid_shape)

    def get_data_info(self, idx: int) -> dict:
        info = super().get_data_info(idx)
        if self.load_target:
            target = self.load_target_of(info)
            if target is not None:
                info['gt_occ'] = target
        return info
