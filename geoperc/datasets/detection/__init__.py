"""Oriented object-detection datasets, one file per on-disk format."""
from .dior_r import DIOR_R_CLASSES, DIORRDataset, parse_dior_r_xml
from .dota import (DOTA_CLASSES, DOTA_V1_CLASSES, DOTA_V2_CLASSES, DOTA_V15_CLASSES, DOTADataset, parse_dota_txt,
                   polygons_to_le90)

__all__ = ['DOTADataset', 'DIORRDataset', 'parse_dota_txt', 'parse_dior_r_xml', 'polygons_to_le90',
           'DOTA_CLASSES', 'DOTA_V1_CLASSES', 'DOTA_V15_CLASSES', 'DOTA_V2_CLASSES', 'DIOR_R_CLASSES']
