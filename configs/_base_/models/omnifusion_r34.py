# OmniFusion (Li et al., CVPR 2022) as the official spherical_model_iterative.py builds it: 18 tangent
# patches (nrows 4) of FoV 80 deg (official tangent extent), shared ResNet-34 encoder, geometric embedding
# after layer1, 6-block / 4-head / 512-d patch transformer, U-Net decoder, depth + confidence heads,
# iterative refinement (2 passes). Input = the BGR image / 255 and nothing else (mean 0, std 255).
# backbone_pretrained: a local torchvision ResNet-34 ImageNet file (e.g. 'pretrained/resnet34-b627a593.pth';
# the official code starts from ImageNet weights); None = random init.
from geoperc.models.data_preprocessors import GeoDataPreprocessor
from geoperc.models.depth import BerHuLoss, OmniFusion

model = dict(
    type=OmniFusion,
    data_preprocessor=dict(type=GeoDataPreprocessor, mean=[0.0, 0.0, 0.0], std=[255.0, 255.0, 255.0],
                           pad_size_divisor=1),
    in_channels=3,
    nrows=4,
    patch_size=256,
    fov=80.0,
    fov_convention='omnifusion',   # 'exact': a true 80 deg field of view
    merge='omnifusion',            # 'exact': the inverse of the patch sampler
    iters=2,
    confidence=True,               # paper; the official training never enables it (see the README)
    encoder_depth=34,
    base_channels=64,
    num_layers=6,
    num_heads=4,
    backbone_pretrained=None,
    loss=dict(type=BerHuLoss, threshold=0.2, c_from='all'),
)
# the contract test builds this instead (the full model's sizes are tested in tests/depth/)
contract_tiny = dict(patch_size=64, base_channels=8, encoder_depth=18, num_layers=1, num_heads=2)
