"""Small PyTorch-style training programs, written the way PyTorch's tutorials write them.

Each module's ``main(torch, setup)`` is the program with its ``import torch`` turned into an
argument: ``test_programs.py`` runs it once with PyTorch and once with ``tinymm`` in its
place and compares the loss curves. ``setup(model_or_tensors)`` is called right after the
weights are created: for PyTorch it records them, for tinymm it loads the recorded values, so
both runs start from the same weights. Data are synthetic NumPy arrays of the tutorials'
shapes (smaller), converted with ``torch.from_numpy`` / ``torch.tensor`` in the program.
"""
