"""Network in Network (d2l chapter 7.3): configuration, model, shapes, data, training, runs and predictions."""
