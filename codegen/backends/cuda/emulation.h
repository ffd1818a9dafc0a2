/* Running the CUDA C that codegen emits on the host, for tests on machines without a GPU.
 *
 * `codegen` builds a module's .cu with the host C++ compiler and this header force-included
 * (-include) when config.cuda_emulation is set: kernels become host functions, a launch runs
 * its blocks in sequence and a block's threads in sequence, and the runtime calls the module
 * makes (memory, copies, device count, errors) act on host memory. Launch limits are checked
 * as a device would. Kernels that synchronize threads (__syncthreads, __shared__, warp
 * shuffles) need a block's threads to run as threads of their own; codegen emits none yet.
 */
#ifndef CODEGEN_CUDA_EMULATION_H
#define CODEGEN_CUDA_EMULATION_H

#define CODEGEN_CUDA_EMULATION 1

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define __global__
#define __device__
#define __host__

struct cg_emu_dim3 {
    unsigned int x, y, z;
};
static thread_local cg_emu_dim3 blockIdx, threadIdx, blockDim, gridDim;

/* a launch: every block, every thread, in order; limits as on a device */
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
        for (blockIdx.x = 0; blockIdx.x < gridDim.x; blockIdx.x++)                          \
            for (threadIdx.x = 0; threadIdx.x < blockDim.x; threadIdx.x++)                  \
                kernel(__VA_ARGS__);                                                        \
    } while (0)

typedef int cudaError_t;
enum { cudaSuccess = 0, cudaErrorMemoryAllocation = 2 };
enum cudaMemcpyKind { cudaMemcpyHostToDevice = 1, cudaMemcpyDeviceToHost = 2 };

static inline cudaError_t cudaGetDeviceCount(int* count) {
    *count = 1;
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
