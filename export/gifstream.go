package export

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"io"
)

// gifStream writes an animated GIF one frame at a time, so memory stays at
// two frames however long the trace is (image/gif's encoder wants every
// frame at once). Each frame is encoded by image/gif as a one-frame GIF
// with the shared global palette; its header and trailer are dropped and
// its frame blocks appended. Only the rectangle that changed since the
// previous frame is stored; the rest stays on screen (disposal "none").
type gifStream struct {
	w      io.Writer
	config image.Config
	prev   *image.Paletted
	buf    bytes.Buffer
	frames int
	err    error
}

func newGIFStream(w io.Writer, width, height int, palette color.Palette) *gifStream {
	return &gifStream{w: w, config: image.Config{ColorModel: palette, Width: width, Height: height}}
}

// add appends a frame shown for delay hundredths of a second. img must use
// the stream's palette and size; the stream keeps its own copy.
func (s *gifStream) add(img *image.Paletted, delay int) error {
	if s.err != nil {
		return s.err
	}
	rect := img.Bounds()
	if s.prev == nil {
		s.prev = image.NewPaletted(rect, img.Palette)
	} else {
		rect = changedRect(s.prev, img)
	}
	s.buf.Reset()
	sub := img.SubImage(rect).(*image.Paletted)
	g := &gif.GIF{Image: []*image.Paletted{sub}, Delay: []int{delay}, Config: s.config}
	if err := gif.EncodeAll(&s.buf, g); err != nil {
		s.err = fmt.Errorf("gif: %v", err)
		return s.err
	}
	b := s.buf.Bytes()
	if len(b) < 14 || b[10]&0x80 == 0 || b[len(b)-1] != 0x3b {
		s.err = errors.New("gif: unexpected encoder output")
		return s.err
	}
	headerLen := 13 + 3<<(b[10]&7+1)
	if s.frames == 0 {
		s.write(b[:headerLen])
		// NETSCAPE2.0 application extension: loop forever.
		s.write([]byte{0x21, 0xff, 0x0b})
		s.write([]byte("NETSCAPE2.0"))
		s.write([]byte{0x03, 0x01, 0x00, 0x00, 0x00})
	}
	s.write(b[headerLen : len(b)-1])
	copy(s.prev.Pix, img.Pix)
	s.frames++
	return s.err
}

func (s *gifStream) write(b []byte) {
	if s.err == nil {
		_, s.err = s.w.Write(b)
	}
}

// close writes the trailer.
func (s *gifStream) close() error {
	if s.frames == 0 && s.err == nil {
		return errors.New("gif: no frames")
	}
	s.write([]byte{0x3b})
	return s.err
}

// changedRect bounds the pixels that differ (at least one pixel, as a
// frame cannot be empty).
func changedRect(a, b *image.Paletted) image.Rectangle {
	r := b.Bounds()
	minX, minY, maxX, maxY := r.Max.X, r.Max.Y, r.Min.X, r.Min.Y
	for y := r.Min.Y; y < r.Max.Y; y++ {
		ra := a.Pix[(y-r.Min.Y)*a.Stride : (y-r.Min.Y)*a.Stride+r.Dx()]
		rb := b.Pix[(y-r.Min.Y)*b.Stride : (y-r.Min.Y)*b.Stride+r.Dx()]
		if bytes.Equal(ra, rb) {
			continue
		}
		minY, maxY = min(minY, y), max(maxY, y+1)
		for x := range ra {
			if ra[x] != rb[x] {
				minX = min(minX, r.Min.X+x)
				break
			}
		}
		for x := len(ra) - 1; x >= 0; x-- {
			if ra[x] != rb[x] {
				maxX = max(maxX, r.Min.X+x+1)
				break
			}
		}
	}
	if minY >= maxY {
		return image.Rect(r.Min.X, r.Min.Y, r.Min.X+1, r.Min.Y+1)
	}
	return image.Rect(minX, minY, maxX, maxY)
}
