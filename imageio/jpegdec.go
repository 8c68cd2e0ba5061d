package imageio

import (
	"encoding/binary"
	"fmt"
	"io"
	"sync"
)

// A JPEG decoder that reproduces libjpeg-turbo's default decompression
// (what PIL uses) sample for sample: baseline and progressive Huffman
// decoding into DCT coefficients, libjpeg's "islow" integer IDCT
// (idct.go), fancy chroma upsampling and colour conversion (jpeg.go,
// jpegout.go). Written from the JPEG standard (ITU T.81) and libjpeg's
// documented behaviour, including its recovery from damaged data: invalid
// Huffman codes read as symbol 0, a segment that ends early leaves the rest
// of its MCUs at zero (flat grey), restart markers are resynchronised — the
// image PIL shows with a "Corrupt JPEG data" warning. Errors are what libjpeg
// treats as fatal (bad headers, undefined tables) plus running out of file
// before EOI (PIL: "image file is truncated").
//
// Not reproduced: arithmetic-coded, lossless and 12-bit JPEGs (rejected with
// an "unsupported" error; Go's image/jpeg reads none of them either), and
// libjpeg's block smoothing of progressive files whose coefficients never
// became complete (only damaged files), and PIL's decode of a baseline file
// that lacks only its EOI marker: PIL succeeds when libjpeg happened never to
// look ahead past the last byte (1 of 14 such files in a 200-image
// cross-check), and fails as "truncated" otherwise, as this decoder always
// does.

var errTruncated = fmt.Errorf("data ends before the image is complete: %w", io.ErrUnexpectedEOF)

// maxPixels is PIL's DecompressionBombError threshold (2 × MAX_IMAGE_PIXELS).
const maxPixels = 2 * 89478485

type corruptErr string

func (e corruptErr) Error() string { return string(e) }

func corrupt(format string, args ...any) error { return corruptErr(fmt.Sprintf(format, args...)) }

// unsupportedErr marks valid JPEG features this decoder does not implement.
type unsupportedErr string

func (e unsupportedErr) Error() string { return "unsupported JPEG: " + string(e) }

// zigzag[k] is the natural-order index of the k-th coefficient in zigzag
// order; the 16 extra entries absorb corrupt runs past 63 as libjpeg does.
var zigzag = [80]uint8{
	0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5,
	12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21, 28,
	35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51,
	58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
	63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63,
}

// fastBits is the lookahead of huffTable.fast; fastCodeOnly flags its
// entries that decode the code but not the extra bits.
const (
	fastBits     = 10
	fastCodeOnly = 0x80
)

// fastFull reports whether a huffTable.fast entry is complete (symbol and
// extra bits): a length of 1 to 127 without the fastCodeOnly flag.
func fastFull(e int32) bool { return uint32(e&0xFF)-1 < fastCodeOnly-1 }

type huffTable struct {
	// fast[peek fastBits bits] decodes the codes of ≤ fastBits bits:
	// value<<16 | symbol<<8 | bits used when the code and its s extra bits
	// fit (s = symbol&15, the magnitude category of both DC and AC symbols;
	// value = the extended coefficient, 0 when s = 0), which is most
	// coefficients of photographic data; else symbol<<8 | fastCodeOnly |
	// code length, the extra bits still to read. 0 = a longer code.
	fast [1 << fastBits]int32
	// lookup[peek 9 bits] = length<<8 | value for codes of ≤ 9 bits, 0 otherwise.
	lookup  [1 << 9]uint16
	maxcode [18]int32 // largest code of each length, -1 if none
	valptr  [17]int32 // index in vals of the first code of each length
	mincode [17]int32
	vals    []uint8
}

func buildHuff(counts [16]uint8, vals []uint8) (*huffTable, error) {
	t := &huffTable{vals: vals}
	code, k := int32(0), int32(0)
	for l := 1; l <= 16; l++ {
		n := int32(counts[l-1])
		t.valptr[l] = k
		t.mincode[l] = code
		if code+n > 1<<l {
			return nil, corrupt("bad Huffman table (code lengths overflow)")
		}
		if n == 0 {
			t.maxcode[l] = -1
		} else {
			for i := int32(0); i < n; i++ {
				sym := vals[k+i]
				if l <= 9 {
					shift := 9 - l
					for j := (code + i) << shift; j < (code+i+1)<<shift; j++ {
						t.lookup[j] = uint16(l)<<8 | uint16(sym)
					}
				}
				if l <= fastBits {
					s := int(sym & 15)
					shift := fastBits - l
					for j := (code + i) << shift; j < (code+i+1)<<shift; j++ {
						if l+s > fastBits {
							t.fast[j] = int32(sym)<<8 | fastCodeOnly | int32(l)
							continue
						}
						// The s bits after the code, then the unused rest.
						v := (j >> (shift - s)) & (1<<s - 1)
						t.fast[j] = extend(v, uint(s))<<16 | int32(sym)<<8 | int32(l+s)
					}
				}
			}
			code += n
			k += n
			t.maxcode[l] = code - 1
		}
		code <<= 1
	}
	t.maxcode[17] = 1 << 30 // sentinel
	return t, nil
}

// huffCache holds built tables by their DHT bytes (counts, then symbols):
// most files carry the same few tables (libjpeg's defaults), and building
// one costs about as much as decoding a few hundred coefficients. Tables
// are read-only once built.
var huffCache struct {
	sync.Mutex
	m map[string]*huffTable
}

// cachedHuff is buildHuff for the DHT table spec (16 counts, then the
// symbols), through huffCache.
func cachedHuff(spec []byte) (*huffTable, error) {
	huffCache.Lock()
	t := huffCache.m[string(spec)]
	huffCache.Unlock()
	if t != nil {
		return t, nil
	}
	t, err := buildHuff([16]uint8(spec[:16]), append([]uint8(nil), spec[16:]...))
	if err != nil {
		return nil, err
	}
	huffCache.Lock()
	if len(huffCache.m) >= 64 { // bounded: start over rather than track use
		clear(huffCache.m)
	}
	if huffCache.m == nil {
		huffCache.m = map[string]*huffTable{}
	}
	huffCache.m[string(spec)] = t
	huffCache.Unlock()
	return t, nil
}

// bitReader reads entropy-coded bits MSB first, removing stuffed zero
// bytes. Like libjpeg it supplies zero bits once it reaches a marker, and
// reports (insufficient) when a decode consumed such fake bits; reaching the
// end of the file instead of a marker is truncation (libjpeg suspends there,
// which PIL reports as "image file is truncated").
type bitReader struct {
	data   []byte
	pos    int    // next byte to load; at the 0xFF of the marker once marker is set
	acc    uint64 // left-aligned bit buffer
	n      uint   // valid bits in acc
	marker bool   // hit a marker: only zero bits follow
	eof    bool   // ran off the end of the data
	fake   uint   // zero bits appended after the marker or end of data
}

// peek8 returns the next 8 bytes (big-endian) if they are plain entropy
// data: no 0xFF, so no stuffed byte and no marker among them.
func (b *bitReader) peek8() (uint64, bool) {
	if b.marker || b.pos+8 > len(b.data) {
		return 0, false
	}
	w := binary.BigEndian.Uint64(b.data[b.pos:])
	x := ^w // a zero byte in x is an 0xFF byte in w
	return w, (x-0x0101010101010101)&^x&0x8080808080808080 == 0
}

func (b *bitReader) fill() {
	// Fast path: append as many whole bytes as fit (≥ 1 as n ≤ 56).
	if w, ok := b.peek8(); ok {
		k := (64 - b.n) >> 3
		n := b.n + 8*k
		b.acc |= (w >> b.n) &^ (1<<(64-n) - 1)
		b.n = n
		b.pos += int(k)
		return
	}
	for b.n <= 56 {
		var c byte
		switch {
		case b.marker:
			b.fake += 8
		case b.pos >= len(b.data):
			b.eof = true
			b.fake += 8
		default:
			c = b.data[b.pos]
			if c == 0xFF {
				j := b.pos + 1
				for j < len(b.data) && b.data[j] == 0xFF {
					j++
				}
				switch {
				case j >= len(b.data):
					b.pos = len(b.data)
					b.eof = true
					c = 0
					b.fake += 8
				case b.data[j] == 0:
					b.pos = j + 1 // FF 00 is a data byte FF
				default:
					b.marker = true
					b.pos = j - 1
					c = 0
					b.fake += 8
				}
			} else {
				b.pos++
			}
		}
		b.acc |= uint64(c) << (56 - b.n)
		b.n += 8
	}
}

// consumedFake reports whether bits past the marker (or end) were used.
func (b *bitReader) consumedFake() bool { return b.fake > b.n }

func (b *bitReader) bits(n uint) int32 {
	if n == 0 {
		return 0
	}
	if b.n < n {
		b.fill()
	}
	v := int32(b.acc >> (64 - n))
	b.acc <<= n
	b.n -= n
	return v
}

func (b *bitReader) bit() bool {
	if b.n < 1 {
		b.fill()
	}
	v := b.acc>>63 != 0
	b.acc <<= 1
	b.n--
	return v
}

// extend is HUFF_EXTEND: an s-bit magnitude category value to its signed value.
func extend(v int32, s uint) int32 {
	if s == 0 {
		return 0
	}
	if v < 1<<(s-1) {
		return v - (1 << s) + 1
	}
	return v
}

// decode reads one Huffman symbol. An invalid code consumes 17 bits and
// yields symbol 0, as libjpeg does (with a warning) — so corrupt data gives a
// damaged image, not an error, exactly as PIL shows it.
func (b *bitReader) decode(t *huffTable) uint8 {
	if b.n < 17 {
		b.fill()
	}
	if e := t.lookup[b.acc>>(64-9)]; e != 0 {
		l := uint(e >> 8)
		b.acc <<= l
		b.n -= l
		return uint8(e)
	}
	for l := uint(10); l <= 16; l++ {
		code := int32(b.acc >> (64 - l))
		if code <= t.maxcode[l] {
			b.acc <<= l
			b.n -= l
			return t.vals[t.valptr[l]+code-t.mincode[l]]
		}
	}
	b.acc <<= 17
	b.n -= 17
	return 0
}

// nextMarker returns the position of the next marker at or after pos
// (skipping garbage and stuffed FF 00 pairs as libjpeg's next_marker does),
// the marker code, and false if the data ends first.
func nextMarker(data []byte, pos int) (int, byte, bool) {
	for {
		for pos < len(data) && data[pos] != 0xFF {
			pos++
		}
		j := pos
		for j < len(data) && data[j] == 0xFF {
			j++
		}
		if j >= len(data) {
			return len(data), 0, false
		}
		if data[j] != 0 {
			return j - 1, data[j], true
		}
		pos = j + 1
	}
}

type jpegComp struct {
	id       uint8
	h, v, tq int
	bw, bh   int     // blocks per row/column, padded to whole MCUs
	cbw, cbh int     // blocks holding real samples
	w, h2    int     // real sample size (libjpeg downsampled_width/height)
	coef     []int16 // bw*bh*64, natural order
	pred     int32
	td, ta   int
	qt       *[64]uint16 // latched at the component's first scan, as libjpeg does
}

type jpegDecoder struct {
	data           []byte
	quant          [4][64]uint16
	quantSet       [4]bool
	dc, ac         [4]*huffTable
	comps          []*jpegComp
	w, h           int
	hmax, vmax     int
	mcusX, mcusY   int
	progressive    bool
	frameSeen      bool
	ri             int
	sawJFIF        bool
	sawAdobe       bool
	adobeXform     uint8
	eobrun         int32
	scans          int
	scanComps      []*jpegComp
	ss, se, ah, al int
	br             *bitReader
	insufficient   bool // libjpeg's insufficient_data: skip MCUs until a restart
	nextRestart    int
}

// decodeJPEGExact decodes a JPEG file to RGB with libjpeg-turbo's arithmetic.
func decodeJPEGExact(data []byte) (*Image, error) {
	d := &jpegDecoder{data: data}
	if err := d.parse(); err != nil {
		return nil, err
	}
	if img, ok := d.outputFast(); ok {
		return img, nil
	}
	return d.output()
}

func (d *jpegDecoder) parse() error {
	data := d.data
	if len(data) < 4 || data[0] != 0xFF || data[1] != 0xD8 {
		return corrupt("not a JPEG file (no SOI marker)")
	}
	pos := 2
	for {
		mpos, m, ok := nextMarker(data, pos)
		if !ok {
			// No EOI: libjpeg suspends waiting for more data and PIL
			// reports the file as truncated.
			return errTruncated
		}
		pos = mpos + 2
		switch {
		case m == 0xD9: // EOI
			if d.scans == 0 {
				return corrupt("no image data (EOI before any scan)")
			}
			return nil
		case m >= 0xD0 && m <= 0xD7, m == 0x01: // stray RSTn / TEM: no payload
			continue
		case m == 0xD8:
			return corrupt("second SOI marker")
		case !(m >= 0xC0 && m <= 0xCF || m >= 0xDA && m <= 0xDD || m >= 0xE0 && m <= 0xEF || m == 0xFE):
			return corrupt("unknown marker 0x%02X", m) // libjpeg refuses these too
		}
		if pos+2 > len(data) {
			return errTruncated
		}
		n := int(data[pos])<<8 | int(data[pos+1])
		if n < 2 {
			return corrupt("bad length %d in marker 0x%02X", n, m)
		}
		if pos+n > len(data) {
			return errTruncated
		}
		seg := data[pos+2 : pos+n]
		pos += n
		var err error
		switch m {
		case 0xC0, 0xC1, 0xC2:
			err = d.parseSOF(seg, m == 0xC2)
		case 0xC3, 0xC5, 0xC6, 0xC7, 0xCB, 0xCD, 0xCE, 0xCF:
			err = unsupportedErr(fmt.Sprintf("lossless or hierarchical coding (SOF%d)", m-0xC0))
		case 0xC8:
			err = corrupt("reserved marker JPG (0xC8)")
		case 0xC9, 0xCA:
			err = unsupportedErr("arithmetic coding (PIL's libjpeg-turbo reads it; this decoder does not)")
		case 0xC4:
			err = d.parseDHT(seg)
		case 0xDB:
			err = d.parseDQT(seg)
		case 0xDD:
			if len(seg) != 2 {
				return corrupt("bad DRI segment length %d", len(seg)+2)
			}
			d.ri = int(seg[0])<<8 | int(seg[1])
		case 0xE0:
			if len(seg) >= 5 && string(seg[:5]) == "JFIF\x00" {
				d.sawJFIF = true
			}
		case 0xEE:
			if len(seg) >= 12 && string(seg[:5]) == "Adobe" {
				d.sawAdobe = true
				d.adobeXform = seg[11]
			}
		case 0xDA:
			pos, err = d.parseSOS(seg, pos)
		}
		// DAC (0xCC), DNL (0xDC), other APPn and COM are skipped, as libjpeg does.
		if err != nil {
			return err
		}
	}
}

func (d *jpegDecoder) parseDQT(seg []byte) error {
	for len(seg) > 0 {
		pq, tq := seg[0]>>4, int(seg[0]&15)
		if tq > 3 || pq > 1 {
			return corrupt("bad DQT table (precision %d, id %d)", pq, tq)
		}
		size := 64 * (1 + int(pq))
		if len(seg) < 1+size {
			return corrupt("short DQT segment")
		}
		for k := 0; k < 64; k++ {
			var q uint16
			if pq == 0 {
				q = uint16(seg[1+k])
			} else {
				q = uint16(seg[1+2*k])<<8 | uint16(seg[2+2*k])
			}
			d.quant[tq][zigzag[k]] = q
		}
		d.quantSet[tq] = true
		seg = seg[1+size:]
	}
	return nil
}

func (d *jpegDecoder) parseDHT(seg []byte) error {
	for len(seg) > 0 {
		if len(seg) < 17 {
			return corrupt("short DHT segment")
		}
		tc, th := seg[0]>>4, int(seg[0]&15)
		if tc > 1 || th > 3 {
			return corrupt("bad DHT table (class %d, id %d)", tc, th)
		}
		total := 0
		for _, n := range seg[1:17] {
			total += int(n)
		}
		if total > 256 || len(seg) < 17+total {
			return corrupt("bad DHT segment (%d codes)", total)
		}
		t, err := cachedHuff(seg[1 : 17+total])
		if err != nil {
			return err
		}
		if tc == 0 {
			d.dc[th] = t
		} else {
			d.ac[th] = t
		}
		seg = seg[17+total:]
	}
	return nil
}

func (d *jpegDecoder) parseSOF(seg []byte, progressive bool) error {
	if d.frameSeen {
		return corrupt("more than one SOF marker")
	}
	if len(seg) < 6 {
		return corrupt("short SOF segment")
	}
	if seg[0] != 8 {
		return unsupportedErr(fmt.Sprintf("%d-bit samples", seg[0]))
	}
	d.h = int(seg[1])<<8 | int(seg[2])
	d.w = int(seg[3])<<8 | int(seg[4])
	nc := int(seg[5])
	if d.w == 0 || d.h == 0 {
		return unsupportedErr(fmt.Sprintf("image size %dx%d (DNL)", d.w, d.h))
	}
	if nc != 1 && nc != 3 && nc != 4 {
		return unsupportedErr(fmt.Sprintf("%d components", nc))
	}
	if len(seg) != 6+3*nc {
		return corrupt("SOF length %d does not fit %d components", len(seg)+2, nc)
	}
	d.progressive = progressive
	d.frameSeen = true
	d.hmax, d.vmax = 1, 1
	for i := 0; i < nc; i++ {
		c := &jpegComp{id: seg[6+3*i], h: int(seg[7+3*i] >> 4), v: int(seg[7+3*i] & 15), tq: int(seg[8+3*i])}
		if c.h < 1 || c.h > 4 || c.v < 1 || c.v > 4 || c.tq > 3 {
			return corrupt("bad component %d sampling %dx%d / table %d", c.id, c.h, c.v, c.tq)
		}
		d.hmax, d.vmax = max(d.hmax, c.h), max(d.vmax, c.v)
		d.comps = append(d.comps, c)
	}
	if int64(d.w)*int64(d.h) > maxPixels {
		return unsupportedErr(fmt.Sprintf("image too large (%dx%d > %d pixels, PIL's decompression-bomb limit)", d.w, d.h, maxPixels))
	}
	d.mcusX = (d.w + 8*d.hmax - 1) / (8 * d.hmax)
	d.mcusY = (d.h + 8*d.vmax - 1) / (8 * d.vmax)
	for _, c := range d.comps {
		c.w = (d.w*c.h + d.hmax - 1) / d.hmax
		c.h2 = (d.h*c.v + d.vmax - 1) / d.vmax
		c.cbw, c.cbh = (c.w+7)/8, (c.h2+7)/8
		c.bw, c.bh = d.mcusX*c.h, d.mcusY*c.v
		c.coef = getCoef(c.bw * c.bh * 64)
	}
	return nil
}

// parseSOS reads a scan header and decodes the scan's entropy-coded data,
// which starts at pos; it returns the position after the data.
func (d *jpegDecoder) parseSOS(seg []byte, pos int) (int, error) {
	if !d.frameSeen {
		return pos, corrupt("SOS before SOF")
	}
	if len(seg) < 1 {
		return pos, corrupt("short SOS segment")
	}
	ns := int(seg[0])
	if ns < 1 || ns > 4 || len(seg) != 1+2*ns+3 {
		return pos, corrupt("bad SOS segment (%d components, length %d)", ns, len(seg)+2)
	}
	d.scanComps = d.scanComps[:0]
	blocks := 0
	for i := 0; i < ns; i++ {
		id := seg[1+2*i]
		var c *jpegComp
		for _, cc := range d.comps {
			if cc.id == id {
				c = cc
			}
		}
		if c == nil {
			return pos, corrupt("scan names unknown component %d", id)
		}
		c.td, c.ta = int(seg[2+2*i]>>4), int(seg[2+2*i]&15)
		if c.td > 3 || c.ta > 3 {
			return pos, corrupt("bad Huffman table selector")
		}
		if c.qt == nil { // libjpeg's latch_quant_tables
			if !d.quantSet[c.tq] {
				return pos, corrupt("component %d uses undefined quantisation table %d", c.id, c.tq)
			}
			q := d.quant[c.tq]
			c.qt = &q
		}
		d.scanComps = append(d.scanComps, c)
		blocks += c.h * c.v
	}
	if ns > 1 && blocks > 10 {
		return pos, corrupt("%d blocks per MCU (at most 10 allowed)", blocks)
	}
	p := seg[1+2*ns:]
	d.ss, d.se, d.ah, d.al = int(p[0]), int(p[1]), int(p[2]>>4), int(p[2]&15)
	if d.progressive {
		bad := d.al > 13 || (d.ah != 0 && d.al != d.ah-1)
		if d.ss == 0 {
			bad = bad || d.se != 0
		} else {
			bad = bad || d.ss > d.se || d.se > 63 || ns != 1
		}
		if bad {
			return pos, corrupt("bad progressive scan parameters Ss=%d Se=%d Ah=%d Al=%d", d.ss, d.se, d.ah, d.al)
		}
	} else {
		d.ss, d.se, d.ah, d.al = 0, 63, 0, 0
	}
	// Motion-JPEG frames omit standard Huffman tables: libjpeg-turbo's
	// sequential decoder fills undefined tables 0 and 1 with Annex K's when
	// it starts (at the first scan); its progressive decoder does not.
	if d.scans == 0 && !d.progressive {
		for id := 0; id < 2; id++ {
			if d.dc[id] == nil {
				d.dc[id] = stdHuff(0, id)
			}
			if d.ac[id] == nil {
				d.ac[id] = stdHuff(1, id)
			}
		}
	}
	for _, c := range d.scanComps {
		if !d.progressive || (d.ss == 0 && d.ah == 0) {
			if d.dc[c.td] == nil {
				return pos, corrupt("scan uses undefined DC Huffman table %d", c.td)
			}
			for _, v := range d.dc[c.td].vals {
				if v > 15 {
					return pos, corrupt("bad DC Huffman table %d (symbol %d)", c.td, v)
				}
			}
		}
		if (!d.progressive || d.ss > 0) && d.ac[c.ta] == nil {
			return pos, corrupt("scan uses undefined AC Huffman table %d", c.ta)
		}
		c.pred = 0
	}
	d.eobrun = 0
	d.insufficient = false
	d.nextRestart = 0
	br := &bitReader{data: d.data, pos: pos}
	d.br = br
	if err := d.decodeScan(br); err != nil {
		return pos, err
	}
	d.scans++
	// At the terminating marker, or before leftover bytes that the parse
	// loop skips as libjpeg's next_marker does.
	return br.pos, nil
}

// restart is libjpeg's process_restart: drop buffered bits, expect RSTn
// (resynchronising as jpeg_resync_to_restart does when it is missing or out
// of order), reset DC predictions and the EOB run.
func (d *jpegDecoder) restart() {
	br := d.br
	br.acc, br.n, br.fake = 0, 0, 0
	var m byte
	if br.marker {
		m = br.data[br.pos+1]
	} else {
		mpos, code, ok := nextMarker(br.data, br.pos)
		br.pos = mpos
		if !ok {
			br.eof = true
			return
		}
		br.marker = true
		m = code
	}
	want := d.nextRestart
	for {
		action := 1
		switch {
		case m < 0xC0:
			action = 2
		case m < 0xD0 || m > 0xD7:
			action = 3
		case m == byte(0xD0+want):
			action = 1
		case m == byte(0xD0+(want+1)&7) || m == byte(0xD0+(want+2)&7):
			action = 3
		case m == byte(0xD0+(want-1)&7) || m == byte(0xD0+(want-2)&7):
			action = 2
		}
		if action == 1 { // consume the marker, resume decoding after it
			br.pos += 2
			br.marker = false
			break
		}
		if action == 3 { // leave the marker: the segment decodes as empty
			break
		}
		mpos, code, ok := nextMarker(br.data, br.pos+2)
		br.pos = mpos
		if !ok {
			br.eof = true
			br.marker = false
			return
		}
		m = code
	}
	d.nextRestart = (d.nextRestart + 1) & 7
	for _, c := range d.scanComps {
		c.pred = 0
	}
	d.eobrun = 0
	if !br.marker {
		d.insufficient = false
	}
}

func (d *jpegDecoder) decodeScan(br *bitReader) error {
	var blockFn func(c *jpegComp, blk []int16)
	switch {
	case !d.progressive:
		blockFn = d.decodeBaseline
	case d.ss == 0 && d.ah == 0:
		blockFn = d.decodeDCFirst
	case d.ss == 0:
		blockFn = d.decodeDCRefine
	case d.ah == 0:
		blockFn = d.decodeACFirst
	default:
		blockFn = d.decodeACRefine
	}
	// DC refinement reads one bit per block and changes nothing on zero
	// bits, so libjpeg decodes it even when out of data.
	always := d.progressive && d.ss == 0 && d.ah != 0
	mcu := 0
	// startMCU handles restarts and reports whether to decode the MCU.
	startMCU := func() bool {
		if d.ri > 0 && mcu > 0 && mcu%d.ri == 0 {
			d.restart()
		}
		mcu++
		return always || !d.insufficient
	}
	endMCU := func() error {
		if br.eof {
			return errTruncated
		}
		if br.consumedFake() {
			d.insufficient = true
		}
		return nil
	}
	if len(d.scanComps) == 1 {
		c := d.scanComps[0]
		for by := 0; by < c.cbh; by++ {
			for bx := 0; bx < c.cbw; bx++ {
				if startMCU() {
					off := (by*c.bw + bx) * 64
					blockFn(c, c.coef[off:off+64])
				}
				if err := endMCU(); err != nil {
					return err
				}
			}
		}
		return nil
	}
	for my := 0; my < d.mcusY; my++ {
		for mx := 0; mx < d.mcusX; mx++ {
			if startMCU() {
				for _, c := range d.scanComps {
					for v := 0; v < c.v; v++ {
						for h := 0; h < c.h; h++ {
							off := ((my*c.v+v)*c.bw + mx*c.h + h) * 64
							blockFn(c, c.coef[off:off+64])
						}
					}
				}
			}
			if err := endMCU(); err != nil {
				return err
			}
		}
	}
	return nil
}

// unzig is zigzag for indexes masked to 7 bits (no bounds checks); the
// entries past 79 are never used.
var unzig = func() (u [128]uint8) {
	copy(u[:], zigzag[:])
	return
}()

// decodeBaseline decodes one block of a sequential scan. It is the hot loop
// of decoding: the bit buffer lives in locals (registers), and the Huffman
// lookahead table decodes most symbols together with their extra bits;
// symbolSlow does the rest.
func (d *jpegDecoder) decodeBaseline(c *jpegComp, blk []int16) {
	br := d.br
	b := (*[64]int16)(blk)
	// No closures here: a captured acc or n would live in memory. Shift
	// counts are masked with &63 where they are below 64 anyway: Go defines
	// larger shifts, which costs instructions on this critical path.
	acc, n := br.acc, br.n
	if n < 25 {
		acc, n = br.refill(acc, n)
	}
	rs, v := uint8(0), int32(0)
	t := d.dc[c.td]
	if e := t.fast[acc>>(64-fastBits)]; fastFull(e) {
		l := uint(e & 0xFF)
		acc <<= l & 63
		n -= l
		v = e >> 16
	} else {
		_, v, acc, n = br.symbolSlow(t, e, acc, n)
	}
	c.pred += v
	b[0] = int16(c.pred)
	t = d.ac[c.ta]
	for k := 1; k < 64; k++ {
		if n < 25 { // a fast code and its extra bits take ≤ 25 bits; a fill gives ≥ 57
			if w, ok := br.peek8(); ok { // refill's fast path, inlined
				k := (64 - n) >> 3
				n2 := n + 8*k
				br.pos += int(k)
				acc, n = acc|(w>>(n&63))&^(1<<((64-n2)&63)-1), n2
			} else {
				acc, n = br.refillSlow(acc, n)
			}
		}
		// One symbol (run/size rs) and its extended value v.
		if e := t.fast[acc>>(64-fastBits)]; fastFull(e) {
			l := uint(e & 0xFF)
			acc <<= l & 63
			n -= l
			rs, v = uint8(e>>8), e>>16
		} else {
			rs, v, acc, n = br.symbolSlow(t, e, acc, n)
		}
		if rs&15 != 0 {
			k += int(rs >> 4)
			b[unzig[k&127]&63] = int16(v)
			continue
		}
		// s = 0: end of block, or a run of 16 zeros (ZRL).
		if rs>>4 != 15 {
			break
		}
		k += 15
	}
	br.acc, br.n = acc, n
}

// refill is fill for a bit buffer held in the caller's locals.
func (b *bitReader) refill(acc uint64, n uint) (uint64, uint) {
	if w, ok := b.peek8(); ok {
		k := (64 - n) >> 3
		n2 := n + 8*k
		b.pos += int(k)
		return acc | (w>>(n&63))&^(1<<((64-n2)&63)-1), n2
	}
	return b.refillSlow(acc, n)
}

func (b *bitReader) refillSlow(acc uint64, n uint) (uint64, uint) {
	b.acc, b.n = acc, n
	b.fill()
	return b.acc, b.n
}

// symbolSlow decodes a symbol and its extra bits where the fast entry e
// (for the buffer acc, n ≥ 25) did not do both: codes of ≤ fastBits bits
// whose extra bits did not fit, then longer or invalid codes.
func (b *bitReader) symbolSlow(t *huffTable, e int32, acc uint64, n uint) (uint8, int32, uint64, uint) {
	if l := uint(e & 0x7F); l != 0 { // code decoded; read its s ≥ 1 extra bits here
		acc <<= l & 63
		n -= l
		rs := uint8(e >> 8)
		s := uint(rs & 15)
		v := int32(acc >> ((64 - s) & 63))
		acc <<= s & 63
		n -= s
		// HUFF_EXTEND without a branch: v − 2^s + 1 when the top bit is 0.
		v += (v - 1<<(s-1)) >> 31 & (-1<<s + 1)
		return rs, v, acc, n
	}
	b.acc, b.n = acc, n
	rs := b.decode(t)
	s := uint(rs & 15)
	v := extend(b.bits(s), s)
	return rs, v, b.acc, b.n
}

func (d *jpegDecoder) decodeDCFirst(c *jpegComp, blk []int16) {
	br := d.br
	t := uint(br.decode(d.dc[c.td]))
	c.pred += extend(br.bits(t), t)
	blk[0] = int16(c.pred << d.al)
}

func (d *jpegDecoder) decodeDCRefine(c *jpegComp, blk []int16) {
	if d.br.bit() {
		blk[0] |= 1 << d.al
	}
}

func (d *jpegDecoder) decodeACFirst(c *jpegComp, blk []int16) {
	if d.eobrun > 0 {
		d.eobrun--
		return
	}
	br, ac := d.br, d.ac[c.ta]
	for k := d.ss; k <= d.se; k++ {
		rs := br.decode(ac)
		r, s := int(rs>>4), uint(rs&15)
		if s != 0 {
			k += r
			blk[zigzag[k]] = int16(extend(br.bits(s), s) << d.al)
		} else {
			if r != 15 {
				d.eobrun = 1 << r
				if r != 0 {
					d.eobrun += br.bits(uint(r))
				}
				d.eobrun--
				break
			}
			k += 15
		}
	}
}

// decodeACRefine is the successive-approximation refinement of T.81 G.1.2.3:
// new coefficients of magnitude 1<<Al, and one correction bit for every
// already-nonzero coefficient passed over.
func (d *jpegDecoder) decodeACRefine(c *jpegComp, blk []int16) {
	br, ac := d.br, d.ac[c.ta]
	p1 := int16(1) << d.al
	m1 := int16(-1) << d.al
	refine := func(pos uint8) {
		if br.bit() && blk[pos]&p1 == 0 {
			if blk[pos] >= 0 {
				blk[pos] += p1
			} else {
				blk[pos] += m1
			}
		}
	}
	k := d.ss
	if d.eobrun == 0 {
		for ; k <= d.se; k++ {
			rs := br.decode(ac)
			r, s := int(rs>>4), int16(rs&15)
			if s != 0 {
				// s must be 1; libjpeg warns on other values and carries on.
				if br.bit() {
					s = p1
				} else {
					s = m1
				}
			} else if r != 15 {
				d.eobrun = 1 << r
				if r != 0 {
					d.eobrun += br.bits(uint(r))
				}
				break
			}
			for ; k <= d.se; k++ {
				pos := zigzag[k]
				if blk[pos] != 0 {
					refine(pos)
				} else {
					if r == 0 {
						break
					}
					r--
				}
			}
			if s != 0 {
				blk[zigzag[k]] = s
			}
		}
	}
	if d.eobrun > 0 {
		for ; k <= d.se; k++ {
			if pos := zigzag[k]; blk[pos] != 0 {
				refine(pos)
			}
		}
		d.eobrun--
	}
}
