/* Train the tutorial MLP through libmlp, the C library `codegen build --target c` writes:
 * no Python, numpy or codegen at run time.
 *
 *     train STATE_DIR DATA_FILE STEPS OUT_DIR
 *
 * STATE_DIR: the initial state (mlp_state/ beside mlp.h); DATA_FILE: int64 rows, int64
 * columns, then the inputs (rows x columns float64, row-major) and the targets (columns
 * float64), as export_data.py writes them. Prints each step's cost and accuracy, and saves the
 * trained state into OUT_DIR.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "mlp.h"

static int fail(mlp_module* m, const char* what) {
    fprintf(stderr, "train: %s: %s\n", what, mlp_error(m));
    mlp_destroy(m);
    return 1;
}

int main(int argc, char** argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: %s STATE_DIR DATA_FILE STEPS OUT_DIR\n", argv[0]);
        return 2;
    }
    FILE* f = fopen(argv[2], "rb");
    int64_t rows, cols;
    if (f == NULL || fread(&rows, 8, 1, f) != 1 || fread(&cols, 8, 1, f) != 1) {
        fprintf(stderr, "train: cannot read %s\n", argv[2]);
        return 1;
    }
    double* x = malloc(sizeof(double) * rows * cols);
    double* y = malloc(sizeof(double) * cols);
    if (x == NULL || y == NULL || fread(x, 8, rows * cols, f) != (size_t)(rows * cols)
            || fread(y, 8, cols, f) != (size_t)cols) {
        fprintf(stderr, "train: %s is cut short\n", argv[2]);
        return 1;
    }
    fclose(f);

    mlp_module* m = mlp_create();
    if (m == NULL)
        return 1;
    if (mlp_load(m, argv[1]) != MLP_OK)
        return fail(m, "loading the state");
    int steps = atoi(argv[3]);
    for (int step = 1; step <= steps; step++) {
        mlp_array cost, output;
        if (mlp_train(m, x, rows, cols, y, cols, &cost) != MLP_OK)
            return fail(m, "train");
        if (mlp_predict(m, x, rows, cols, &output) != MLP_OK)
            return fail(m, "predict");
        const double* p = output.data;  /* 1 x cols */
        int right = 0;
        for (int64_t j = 0; j < cols; j++)
            right += (p[j] > 0.5) == (y[j] != 0);
        printf("iteration %2d  cost %.17g  accuracy %.3f\n", step, *(double*)cost.data,
               (double)right / cols);
    }
    if (mlp_save(m, argv[4]) != MLP_OK)
        return fail(m, "saving the state");
    mlp_destroy(m);
    free(x);
    free(y);
    return 0;
}
