"""Small Keras programs of the kinds issue 14 lists, each runnable on tinymm as it is and on
Keras 3 with only its import line changed (tests/test_keras_programs.py does both)."""
