package importer

import (
	"encoding/binary"
	"time"
)

// copyBuf holds rows in PostgreSQL's binary COPY format, written straight
// from the import's structs: one append per field, no value boxed in an
// interface, no type lookup. Each method writes one field of the type its
// name says; the table's column list fixes the order.
type copyBuf struct{ b []byte }

// copyHeader starts binary COPY data: the signature, no flags, no
// header extension.
var copyHeader = []byte("PGCOPY\n\xff\r\n\x00\x00\x00\x00\x00\x00\x00\x00\x00")

// pgEpoch is PostgreSQL's zero time and date, 2000-01-01 UTC, in
// microseconds and in days since the Unix epoch.
const (
	pgEpochMicros = 946684800 * 1000000
	pgEpochDays   = 946684800 / 86400
)

// newCopyBuf returns a buffer started with the COPY header, with room
// for rows rows of about width bytes each.
func newCopyBuf(rows, width int) *copyBuf {
	c := &copyBuf{b: make([]byte, 0, len(copyHeader)+rows*width+2)}
	c.b = append(c.b, copyHeader...)
	return c
}

// row starts a row of n fields.
func (c *copyBuf) row(n int) { c.b = binary.BigEndian.AppendUint16(c.b, uint16(n)) }

// null writes a NULL field.
func (c *copyBuf) null() { c.b = binary.BigEndian.AppendUint32(c.b, 0xffffffff) }

// int8 writes v as a bigint.
func (c *copyBuf) int8(v int64) {
	c.b = binary.BigEndian.AppendUint32(c.b, 8)
	c.b = binary.BigEndian.AppendUint64(c.b, uint64(v))
}

// int8p writes *v as a bigint, or NULL when v is nil.
func (c *copyBuf) int8p(v *int64) {
	if v == nil {
		c.null()
		return
	}
	c.int8(*v)
}

// int4p writes *v as an integer, or NULL when v is nil.
func (c *copyBuf) int4p(v *int32) {
	if v == nil {
		c.null()
		return
	}
	c.b = binary.BigEndian.AppendUint32(c.b, 4)
	c.b = binary.BigEndian.AppendUint32(c.b, uint32(*v))
}

// text writes s as text or varchar: its UTF-8 bytes, as the source's
// text columns gave them.
func (c *copyBuf) text(s string) {
	c.b = binary.BigEndian.AppendUint32(c.b, uint32(len(s)))
	c.b = append(c.b, s...)
}

// bool writes v as a boolean.
func (c *copyBuf) bool(v bool) {
	c.b = binary.BigEndian.AppendUint32(c.b, 1)
	if v {
		c.b = append(c.b, 1)
	} else {
		c.b = append(c.b, 0)
	}
}

// timestamptz writes t to the microsecond (what PostgreSQL keeps).
func (c *copyBuf) timestamptz(t time.Time) {
	c.b = binary.BigEndian.AppendUint32(c.b, 8)
	c.b = binary.BigEndian.AppendUint64(c.b, uint64(t.Unix()*1000000+int64(t.Nanosecond())/1000-pgEpochMicros))
}

// timestamptzp writes *t as timestamptz does, or NULL when t is nil.
func (c *copyBuf) timestamptzp(t *time.Time) {
	if t == nil {
		c.null()
		return
	}
	c.timestamptz(*t)
}

// date writes the calendar date of t.
func (c *copyBuf) date(t time.Time) {
	days := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC).Unix()/86400 - pgEpochDays
	c.b = binary.BigEndian.AppendUint32(c.b, 4)
	c.b = binary.BigEndian.AppendUint32(c.b, uint32(int32(days)))
}

// end ends the data and returns it.
func (c *copyBuf) end() []byte {
	c.b = binary.BigEndian.AppendUint16(c.b, 0xffff)
	return c.b
}
