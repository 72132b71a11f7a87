/* Using a trained model: `cnn-dist predict` (a checkpoint applied to image files: classes,
 * masks or denoised images) and `cnn-dist eval` (the evaluation of training on a dataset,
 * with per-class metrics), both from a checkpoint alone, on any number of MPI ranks; and
 * `cnn-dist filters` (a convolution's filters as a picture). */
#ifndef CNN_INFER_H
#define CNN_INFER_H

/* argv[0] is "predict", "eval" or "filters"; the rest its arguments. predict and eval start
 * MPI (a singleton without mpirun) and end it. Returns the exit status: 0 ok, 1 a failure (a file that could not
 * be predicted included), 2 a usage or config error. */
int infer_main(int argc, char **argv);

#endif
