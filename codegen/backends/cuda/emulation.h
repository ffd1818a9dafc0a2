/* Running the CUDA C that codegen emits on the host, for tests on machines without a GPU.
 *
 * `codegen` builds a module's .cu with the host C++ compiler, OpenMP, and this header
 * force-included (-include) when CODEGEN_CUDA_EMULATION is set: a launch runs its blocks in
 * sequence and each block's threads as the threads of an OpenMP team, so that
 * __syncthreads() is a barrier of the team, __shared__ storage is one static array the team
 * shares, and a warp shuffle goes through a table of the block's values between two
 * barriers (every thread of a block must reach it, as codegen's kernels do). The runtime
 * calls the module makes (memory, copies, the device count, errors) act on host memory.
 * Launch limits are checked as a device would.
 */
#ifndef CODEGEN_CUDA_EMULATION_H
#define CODEGEN_CUDA_EMULATION_H

#define CODEGEN_CUDA_EMULATION 1

#include <omp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define __global__
#define __device__
#define __host__
#define __shared__ static

struct cg_emu_dim3 {
    unsigned int x, y, z;
};
/* one block runs at a time: its index and the launch's shape are the team's; each thread
   has its own index */
static cg_emu_dim3 blockIdx, blockDim, gridDim;
static thread_local cg_emu_dim3 threadIdx;

#define __syncthreads() _Pragma("omp barrier")

/* __shfl_down_sync: the value of the thread `offset` lanes up in the same warp of 32 (its
   own where that falls outside the warp), read between two barriers of the block */
template <typename T>
static T __shfl_down_sync(unsigned int, T value, int offset) {
    static T table[1024];
    unsigned int t = threadIdx.x;
    table[t] = value;
    _Pragma("omp barrier")
    T got = (t % 32) + offset < 32 && t + offset < blockDim.x ? table[t + offset] : value;
    _Pragma("omp barrier")
    return got;
}

/* a launch: every block in turn, its threads as an OpenMP team; limits as on a device */
#define CG_LAUNCH(kernel, blocks, threads, ...)                                             \
    do {                                                                                    \
        unsigned long long cg_b_ = (blocks), cg_t_ = (threads);                             \
        if (cg_t_ < 1 || cg_t_ > 1024 || cg_b_ < 1 || cg_b_ > 2147483647ULL) {              \
            fprintf(stderr, "emulated launch of " #kernel ": %llu blocks of %llu threads "  \
                    "is outside CUDA's limits\n", cg_b_, cg_t_);                            \
            abort();                                                                        \
        }                                                                                   \
        gridDim.x = (unsigned)cg_b_; blockDim.x = (unsigned)cg_t_;                          \
        gridDim.y = gridDim.z = blockDim.y = blockDim.z = 1;                                \
        for (blockIdx.x = 0; blockIdx.x < gridDim.x; blockIdx.x++) {                        \
            _Pragma("omp parallel num_threads(cg_t_)")                                      \
            {                                                                               \
                if (omp_get_num_threads() != (int)cg_t_) {                                  \
                    fprintf(stderr, "emulated launch of " #kernel ": %d threads, not "      \
                            "%llu (OMP_DYNAMIC or a thread limit)\n",                       \
                            omp_get_num_threads(), cg_t_);                                  \
                    abort();                                                                \
                }                                                                           \
                threadIdx.x = (unsigned)omp_get_thread_num();                               \
                threadIdx.y = threadIdx.z = 0;                                              \
                kernel(__VA_ARGS__);                                                        \
            }                                                                               \
        }                                                                                   \
    } while (0)

/* cuBLAS's gemm as the module calls it (column-major, op 0 = N, 1 = T), on the host: so the
   emulated products above the cuBLAS size go through the same row-major-as-column-major
   arithmetic, transposes and beta as on a device. */
template <typename T>
static int cg_emu_gemm(void*, int op_a, int op_b, int m, int n, int k, const T* alpha,
                       const T* a, int lda, const T* b, int ldb, const T* beta, T* c, int ldc) {
    for (int j = 0; j < n; j++)
        for (int i = 0; i < m; i++) {
            T sum = 0;
            for (int p = 0; p < k; p++)
                sum += (op_a ? a[p + i * lda] : a[i + p * lda])
                     * (op_b ? b[j + p * ldb] : b[p + j * ldb]);
            c[i + j * ldc] = *alpha * sum + (*beta != 0 ? *beta * c[i + j * ldc] : 0);
        }
    return 0;
}

typedef int cudaError_t;
enum { cudaSuccess = 0, cudaErrorMemoryAllocation = 2 };
enum cudaMemcpyKind {
    cudaMemcpyHostToDevice = 1,
    cudaMemcpyDeviceToHost = 2,
    cudaMemcpyDeviceToDevice = 3
};

static inline cudaError_t cudaGetDeviceCount(int* count) {
    *count = 1;
    return cudaSuccess;
}
static inline cudaError_t cudaGetDevice(int* device) {
    *device = 0;
    return cudaSuccess;
}
static inline cudaError_t cudaMalloc(void** p, size_t size) {
    *p = malloc(size ? size : 1);
    return *p ? cudaSuccess : cudaErrorMemoryAllocation;
}
static inline cudaError_t cudaFree(void* p) {
    free(p);
    return cudaSuccess;
}
static inline cudaError_t cudaMemcpy(void* dst, const void* src, size_t size,
                                     cudaMemcpyKind) {
    if (size)
        memcpy(dst, src, size);
    return cudaSuccess;
}
static inline cudaError_t cudaDeviceSynchronize(void) { return cudaSuccess; }
static inline cudaError_t cudaGetLastError(void) { return cudaSuccess; }
static inline const char* cudaGetErrorString(cudaError_t error) {
    return error == cudaSuccess ? "no error" : "out of memory";
}

#endif
