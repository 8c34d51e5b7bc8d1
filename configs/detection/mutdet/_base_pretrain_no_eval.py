# MutDet pre-training evaluates nothing (official MutDet_DOTA_Pretrain.py): no validation or test loop,
# shared by the pre-training leaves of this folder (a fragment: not a runnable config).
val_dataloader = None
val_cfg = None
val_evaluator = None
test_dataloader = None
test_cfg = None
test_evaluator = None
