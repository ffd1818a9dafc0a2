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
 *
 * Streams and CUDA graphs: while a stream captures, a launch (and a cuBLAS gemm) is recorded
 * instead of run, with its arguments' values, and a launch of the instantiated graph runs the
 * records in order. As on a device, a call that would wait for the device or allocate while
 * a capture is under way (a copy, a synchronization, cudaMalloc, cudaFree) fails and spoils
 * the capture, whose end then reports it: a step that reads a value back between its
 * launches cannot pass for one that can be replayed.
 */
#ifndef CODEGEN_CUDA_EMULATION_H
#define CODEGEN_CUDA_EMULATION_H

#define CODEGEN_CUDA_EMULATION 1

#include <omp.h>
#include <stddef.h>
#include <functional>
#include <vector>
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

/* atomicAdd: the old value, the addition done by one thread of the team at a time */
template <typename T>
static T atomicAdd(T* address, T value) {
    T old;
    _Pragma("omp atomic capture")
    { old = *address; *address += value; }
    return old;
}

/* a graph: the work a capture recorded, run in order by cudaGraphLaunch */
struct cg_emu_graph {
    std::vector<std::function<void()>> work;
};
/* a stream: whether it captures, into what, and whether a call spoiled the capture */
struct cg_emu_stream {
    cg_emu_graph* capture;
    int spoiled;
};
typedef cg_emu_stream* cudaStream_t;
typedef cg_emu_graph* cudaGraph_t;
typedef cg_emu_graph* cudaGraphExec_t;
/* the stream capturing now, if any (the module captures on one thread, under its lock) */
static cg_emu_stream* cg_emu_capturing;

/* `work` run now, or recorded when a stream captures */
template <typename F>
static void cg_emu_submit(F work) {
    if (cg_emu_capturing != NULL)
        cg_emu_capturing->capture->work.push_back(work);
    else
        work();
}

/* a launch: every block in turn, its threads as an OpenMP team; limits as on a device; the
   arguments are taken when it is submitted (their values, as a captured launch keeps them) */
#define CG_LAUNCH(kernel, blocks, threads, ...)                                             \
    cg_emu_submit([=]() {                                                                   \
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
    })

/* cuBLAS's gemm as the module calls it (column-major, op 0 = N, 1 = T), on the host: so the
   emulated products above the cuBLAS size go through the same row-major-as-column-major
   arithmetic, transposes and beta as on a device. */
template <typename T>
static int cg_emu_gemm(void*, int op_a, int op_b, int m, int n, int k, const T* alpha_p,
                       const T* a, int lda, const T* b, int ldb, const T* beta_p, T* c, int ldc) {
    const T alpha = *alpha_p, beta = *beta_p;  /* read at the call, as cuBLAS's host mode */
    cg_emu_submit([=]() {
        for (int j = 0; j < n; j++)
            for (int i = 0; i < m; i++) {
                T sum = 0;
                for (int p = 0; p < k; p++)
                    sum += (op_a ? a[p + i * lda] : a[i + p * lda])
                         * (op_b ? b[j + p * ldb] : b[p + j * ldb]);
                c[i + j * ldc] = alpha * sum + (beta != 0 ? beta * c[i + j * ldc] : 0);
            }
    });
    return 0;
}

typedef int cudaError_t;
enum {
    cudaSuccess = 0,
    cudaErrorMemoryAllocation = 2,
    cudaErrorIllegalState = 401,
    cudaErrorStreamCaptureUnsupported = 900,
    cudaErrorStreamCaptureInvalidated = 901
};
enum cudaMemcpyKind {
    cudaMemcpyHostToDevice = 1,
    cudaMemcpyDeviceToHost = 2,
    cudaMemcpyDeviceToDevice = 3
};
enum cudaStreamCaptureMode { cudaStreamCaptureModeThreadLocal = 1 };
enum { cudaGraphInstantiateFlagAutoFreeOnLaunch = 1 };

/* a call not allowed while a stream captures: it spoils the capture */
static inline int cg_emu_unsafe(void) {
    if (cg_emu_capturing == NULL)
        return 0;
    cg_emu_capturing->spoiled = 1;
    return 1;
}

static inline cudaError_t cudaGetDeviceCount(int* count) {
    *count = 1;
    return cudaSuccess;
}
static inline cudaError_t cudaGetDevice(int* device) {
    *device = 0;
    return cudaSuccess;
}
static inline cudaError_t cudaMalloc(void** p, size_t size) {
    if (cg_emu_unsafe())
        return cudaErrorStreamCaptureUnsupported;
    *p = malloc(size ? size : 1);
    return *p ? cudaSuccess : cudaErrorMemoryAllocation;
}
static inline cudaError_t cudaFree(void* p) {
    if (cg_emu_unsafe())
        return cudaErrorStreamCaptureUnsupported;
    free(p);
    return cudaSuccess;
}
/* the stream-ordered memory pool of the outputs returned on the device: host memory, given
   at once and given back at once (a step runs whole before the call returns) */
typedef struct cg_emu_pool { int unused; }* cudaMemPool_t;
enum cudaMemAllocationType { cudaMemAllocationTypePinned = 1 };
enum cudaMemLocationType { cudaMemLocationTypeDevice = 1 };
struct cudaMemLocation { cudaMemLocationType type; int id; };
struct cudaMemPoolProps {
    cudaMemAllocationType allocType;
    int handleTypes;
    cudaMemLocation location;
};
enum cudaMemPoolAttr { cudaMemPoolAttrReleaseThreshold = 4 };
enum cudaDeviceAttr { cudaDevAttrMemoryPoolsSupported = 115 };
static inline cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr, int) {
    *value = 1;
    return cudaSuccess;
}
static inline cudaError_t cudaMemPoolCreate(cudaMemPool_t* pool, const cudaMemPoolProps*) {
    *pool = new cg_emu_pool();
    return cudaSuccess;
}
static inline cudaError_t cudaMemPoolSetAttribute(cudaMemPool_t, cudaMemPoolAttr, void*) {
    return cudaSuccess;
}
static inline cudaError_t cudaMemPoolTrimTo(cudaMemPool_t, size_t) { return cudaSuccess; }
static inline cudaError_t cudaMallocFromPoolAsync(void** p, size_t size, cudaMemPool_t,
                                                  cudaStream_t) {
    return cudaMalloc(p, size);
}
static inline cudaError_t cudaFreeAsync(void* p, cudaStream_t) { return cudaFree(p); }
static inline cudaError_t cudaMemcpy(void* dst, const void* src, size_t size,
                                     cudaMemcpyKind) {
    if (cg_emu_unsafe())
        return cudaErrorStreamCaptureUnsupported;
    if (size)
        memcpy(dst, src, size);
    return cudaSuccess;
}
static inline cudaError_t cudaDeviceSynchronize(void) {
    return cg_emu_unsafe() ? cudaErrorStreamCaptureUnsupported : cudaSuccess;
}
static inline cudaError_t cudaStreamSynchronize(cudaStream_t) {
    return cg_emu_unsafe() ? cudaErrorStreamCaptureUnsupported : cudaSuccess;
}
static inline cudaError_t cudaGetLastError(void) { return cudaSuccess; }
static inline const char* cudaGetErrorString(cudaError_t error) {
    switch (error) {
    case cudaSuccess: return "no error";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorStreamCaptureUnsupported:
        return "operation not permitted when stream is capturing";
    case cudaErrorStreamCaptureInvalidated:
        return "operation failed due to a previous error during capture";
    default: return "unrecognized error code";
    }
}

static inline cudaError_t cudaStreamCreate(cudaStream_t* stream) {
    *stream = new cg_emu_stream();
    return cudaSuccess;
}
static inline cudaError_t cudaStreamBeginCapture(cudaStream_t stream, cudaStreamCaptureMode) {
    if (cg_emu_capturing != NULL)
        return cudaErrorIllegalState;
    stream->capture = new cg_emu_graph();
    stream->spoiled = 0;
    cg_emu_capturing = stream;
    return cudaSuccess;
}
static inline cudaError_t cudaStreamEndCapture(cudaStream_t stream, cudaGraph_t* graph) {
    if (cg_emu_capturing != stream)
        return cudaErrorIllegalState;
    cg_emu_capturing = NULL;
    *graph = stream->capture;
    stream->capture = NULL;
    if (stream->spoiled) {
        delete *graph;
        *graph = NULL;
        return cudaErrorStreamCaptureInvalidated;
    }
    return cudaSuccess;
}
static inline cudaError_t cudaGraphInstantiate(cudaGraphExec_t* exec, cudaGraph_t graph,
                                               unsigned long long) {
    *exec = new cg_emu_graph(*graph);
    return cudaSuccess;
}
static inline cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t) {
    if (cg_emu_unsafe())
        return cudaErrorStreamCaptureUnsupported;
    for (auto& work : exec->work)
        work();
    return cudaSuccess;
}
static inline cudaError_t cudaGraphDestroy(cudaGraph_t graph) {
    delete graph;
    return cudaSuccess;
}
static inline cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec) {
    delete exec;
    return cudaSuccess;
}

#endif
