"""Subprocess of test_resume.py: run tiled inference and SIGKILL itself part-way (not a test module).

    python crash_run.py INPUT OUT CHECKPOINT KILL_AT_CALL MIN_ROWS
"""
import glob
import os
import signal
import sys
import time

import torch

from geoperc.inference import infer_geotiff
from geoperc.testing.models import TinyConvSegModel

INFER_KW = dict(tile=128, overlap=32, batch_size=2, block=64, output='probs', progress=False)


def make_model(ckpt):
    m = TinyConvSegModel(in_channels=3, num_classes=3, width=8)
    m.load_state_dict(torch.load(ckpt, weights_only=True)['state_dict'])
    return m.eval()


if __name__ == '__main__':
    inp, out, ckpt, kill_at, min_rows = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
    model = make_model(ckpt)
    calls = [0]
    orig = model.predict_dense

    def predict_dense(data):
        calls[0] += 1
        if calls[0] == kill_at:
            # let MIN_ROWS block rows reach the disk, then die without any cleanup
            deadline = time.time() + 30
            while (len(glob.glob(os.path.join(out + '.partial', 'rows', 'r*.npy'))) < min_rows
                   and time.time() < deadline):
                time.sleep(0.05)
            os.kill(os.getpid(), signal.SIGKILL)
        return orig(data)

    model.predict_dense = predict_dense
    infer_geotiff(model, [inp], out, **INFER_KW)
    print('finished without being killed')
