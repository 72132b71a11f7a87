/* Sum over a thread block, shared by the CUDA kernels that reduce (losses, norms, soft
 * cross-entropy): a fixed tree (warp shuffles, then warp 0 over the warp sums), so a result
 * depends only on the block size, never on timing. blockDim.x must be a multiple of 32, at
 * most 1024; the sum is valid in thread 0. */
#ifndef CNN_CUDA_BLOCK_SUM_CUH
#define CNN_CUDA_BLOCK_SUM_CUH

template <typename V>
__device__ static V block_sum(V v)
{
    __shared__ V sh[32];
    int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_down_sync(0xffffffffu, v, o);
    __syncthreads(); /* sh may still be read from the previous call */
    if (lane == 0)
        sh[w] = v;
    __syncthreads();
    if (w == 0) {
        v = lane < (int)(blockDim.x >> 5) ? sh[lane] : (V)0;
        for (int o = 16; o > 0; o >>= 1)
            v += __shfl_down_sync(0xffffffffu, v, o);
    }
    return v;
}

#endif
