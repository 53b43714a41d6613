package unpack

import (
	"bufio"
	"bytes"
	"fmt"
	"io"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/petrel-edge/petrel/image/manifest"
)

var (
	gzipMagic = []byte{0x1f, 0x8b}
	zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}
)

// Decompress returns the uncompressed stream of r, recognising gzip and
// zstd by their magic bytes; anything else is passed through as is.
func Decompress(r io.Reader) (io.ReadCloser, manifest.Compression, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, err := br.Peek(4)
	if err != nil && err != io.EOF {
		return nil, 0, fmt.Errorf("read layer: %w", err)
	}
	switch {
	case bytes.HasPrefix(head, gzipMagic):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, 0, fmt.Errorf("gzip: %w", err)
		}
		zr.Multistream(true)
		return zr, manifest.Gzip, nil
	case bytes.HasPrefix(head, zstdMagic):
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxWindow(128<<20))
		if err != nil {
			return nil, 0, fmt.Errorf("zstd: %w", err)
		}
		return zstdCloser{zr}, manifest.Zstd, nil
	}
	return io.NopCloser(br), manifest.Uncompressed, nil
}

type zstdCloser struct{ *zstd.Decoder }

func (z zstdCloser) Close() error {
	z.Decoder.Close()
	return nil
}
