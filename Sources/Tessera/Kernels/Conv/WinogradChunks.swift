// How the Winograd kernels walk a batch: chunks of images sized for the cache, one range of
// images per thread, with their scratch from the buffer pool.

/// Images per Winograd chunk: as many as keep the chunk's transformed tiles and products
/// (`bytesPerImage` each) within ``Winograd3x3/chunkBytes`` — in L2 between the transforms and the
/// GEMMs — but at least enough for one tile per 1,024 floats of a transformed kernel U_ξ
/// (`kernelFloats`), however large the chunk gets then: each GEMM reads all of U_ξ, and with few
/// tiles that read, not the arithmetic, sets its speed. Never more than one thread's share, nor
/// more than 16 × chunkBytes of workspace per thread (as a large batch of deep layers would want).
///
/// Why: deep layers at small sizes (ResNet-18's 512 channels at 4×4, U_ξ of 1 MiB) otherwise run
/// GEMMs a few tiles wide that spend more in OpenBLAS's repacking of U_ξ than in arithmetic, while
/// shallow ones (U_ξ of tens of KiB) do best with L2-sized chunks (docs/BENCHMARKS.md, design
/// measurements).
func winogradChunk(bytesPerImage: Int, tilesPerImage: Int, kernelFloats: Int, images n: Int, parts: Int) -> Int {
    let perPart = (n + parts - 1) / parts
    let fitting = Winograd3x3.chunkBytes / Swift.max(bytesPerImage, 1)
    let wide = Swift.min((kernelFloats / 1024 + tilesPerImage - 1) / tilesPerImage, 16 * fitting)
    return Swift.max(1, Swift.min(perPart, Swift.max(fitting, wide)))
}

/// Splits `n` images into one contiguous range per part, run concurrently, and each range into
/// chunks of at most `chunk` images: `body(part, images, scratch, shared)` for every chunk, with
/// `perPart` floats of scratch private to the part and `shared` floats common to all parts, which
/// `prepare` fills before and `finish` reads after. `startPart(scratch)` runs once per part before
/// its first chunk. With more than one part, the GEMMs issued inside run single-threaded.
///
///     workspace: shared | parts × perPart (each rounded up to whole cache lines)
func forEachWinogradChunk(images n: Int, parts: Int, chunk: Int, shared: Int, perPart: Int,
                          prepare: (UnsafeMutablePointer<Float>) -> Void,
                          finish: (UnsafeMutablePointer<Float>) -> Void,
                          startPart: (UnsafeMutablePointer<Float>) -> Void = { _ in },
                          _ body: (_ part: Int, _ images: Range<Int>, _ scratch: UnsafeMutablePointer<Float>,
                                   _ shared: UnsafeMutablePointer<Float>) -> Void) {
    let stride = (perPart + 15) / 16 * 16, sharedStride = (shared + 15) / 16 * 16
    if parts > 1 { BLAS.useOpenBLASThreads(1) } else { BLAS.useOpenBLASThreads(Runtime.threads) }
    BufferPool.withScratch(sharedStride + parts * stride) { ws in
        prepare(ws)
        Parallel.run(parts: parts) { part in
            let scratch = ws + sharedStride + part * stride
            startPart(scratch)
            var s0 = n * part / parts
            let end = n * (part + 1) / parts
            while s0 < end {
                let count = Swift.min(chunk, end - s0)
                body(part, s0..<(s0 + count), scratch, ws)
                s0 += count
            }
        }
        finish(ws)
    }
}
