package inventory

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"reflect"
	"sort"
	"sync"
	"unsafe"
)

// The cache keeps evaluated models in a compact binary form of their Go
// values: decoding JSON was most of the time of a run served from the
// cache. The form follows the Go type field by field; it is not a
// contract, since Cache.Version (the build) is part of every key. Nil and
// empty maps, slices and pointers stay apart, so that a decoded value is
// the value encoded. A type it does not know is an error, and the entry is
// not cached.

var errCodec = errors.New("cache codec: damaged value")

// codecFunc encodes or decodes one value of a type.
type codec struct {
	enc func(b []byte, v reflect.Value) []byte
	// dec decodes into the value of the codec's type at p, which must
	// be that type's zero value. It writes through p without reflect's
	// checks: the type is known when the codec is made.
	dec func(d *decoder, p unsafe.Pointer) error
}

var codecs sync.Map // reflect.Type -> *codec

func codecFor(t reflect.Type) (*codec, error) {
	if c, ok := codecs.Load(t); ok {
		return c.(*codec), nil
	}
	c, err := makeCodec(t)
	if err != nil {
		return nil, err
	}
	codecs.Store(t, c)
	return c, nil
}

// encodeValue appends the binary form of *p, a pointer to a value.
func encodeValue(b []byte, p any) ([]byte, error) {
	v := reflect.ValueOf(p).Elem()
	c, err := codecFor(v.Type())
	if err != nil {
		return nil, err
	}
	return c.enc(b, v), nil
}

// decodeValue decodes b into *p, which must be the zero value. The strings
// of *p share b, which must not change afterwards.
func decodeValue(b []byte, p any) error {
	v := reflect.ValueOf(p).Elem()
	c, err := codecFor(v.Type())
	if err != nil {
		return err
	}
	d := &decoder{b: b}
	if err := c.dec(d, v.Addr().UnsafePointer()); err != nil {
		return err
	}
	if len(d.b) != 0 {
		return errCodec
	}
	return nil
}

type decoder struct{ b []byte }

func (d *decoder) uvarint() (uint64, error) {
	n, k := binary.Uvarint(d.b)
	if k <= 0 {
		return 0, errCodec
	}
	d.b = d.b[k:]
	return n, nil
}

func (d *decoder) str() (string, error) {
	n, err := d.uvarint()
	if err != nil || n > uint64(len(d.b)) {
		return "", errCodec
	}
	if n == 0 {
		return "", nil
	}
	// The string shares the decoder's bytes, which nothing writes to
	// after they are read: one allocation fewer per string.
	s := unsafe.String(unsafe.SliceData(d.b), int(n))
	d.b = d.b[n:]
	return s, nil
}

// length reads a count that is 0 for nil and n+1 for n elements; each
// element takes at least one byte, which bounds it.
func (d *decoder) length() (n int, isNil bool, err error) {
	u, err := d.uvarint()
	if err != nil {
		return 0, false, err
	}
	if u == 0 {
		return 0, true, nil
	}
	if u-1 > uint64(len(d.b)) {
		return 0, false, errCodec
	}
	return int(u - 1), false, nil
}

func makeCodec(t reflect.Type) (*codec, error) {
	switch t.Kind() {
	case reflect.String:
		return &codec{
			enc: func(b []byte, v reflect.Value) []byte { return appendBytes(b, []byte(v.String())) },
			dec: func(d *decoder, p unsafe.Pointer) error {
				s, err := d.str()
				*(*string)(p) = s
				return err
			},
		}, nil
	case reflect.Bool:
		return &codec{
			enc: func(b []byte, v reflect.Value) []byte {
				if v.Bool() {
					return append(b, 1)
				}
				return append(b, 0)
			},
			dec: func(d *decoder, p unsafe.Pointer) error {
				if len(d.b) == 0 || d.b[0] > 1 {
					return errCodec
				}
				*(*bool)(p) = d.b[0] == 1
				d.b = d.b[1:]
				return nil
			},
		}, nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		kind := t.Kind()
		return &codec{
			enc: func(b []byte, v reflect.Value) []byte { return binary.AppendVarint(b, v.Int()) },
			dec: func(d *decoder, p unsafe.Pointer) error {
				n, k := binary.Varint(d.b)
				if k <= 0 {
					return errCodec
				}
				d.b = d.b[k:]
				switch kind {
				case reflect.Int:
					*(*int)(p) = int(n)
				case reflect.Int8:
					*(*int8)(p) = int8(n)
				case reflect.Int16:
					*(*int16)(p) = int16(n)
				case reflect.Int32:
					*(*int32)(p) = int32(n)
				default:
					*(*int64)(p) = n
				}
				return nil
			},
		}, nil
	case reflect.Float64, reflect.Float32:
		is32 := t.Kind() == reflect.Float32
		return &codec{
			enc: func(b []byte, v reflect.Value) []byte {
				return binary.LittleEndian.AppendUint64(b, math.Float64bits(v.Float()))
			},
			dec: func(d *decoder, p unsafe.Pointer) error {
				if len(d.b) < 8 {
					return errCodec
				}
				f := math.Float64frombits(binary.LittleEndian.Uint64(d.b))
				if is32 {
					*(*float32)(p) = float32(f)
				} else {
					*(*float64)(p) = f
				}
				d.b = d.b[8:]
				return nil
			},
		}, nil
	case reflect.Pointer:
		elem, err := codecFor(t.Elem())
		if err != nil {
			return nil, err
		}
		return &codec{
			enc: func(b []byte, v reflect.Value) []byte {
				if v.IsNil() {
					return append(b, 0)
				}
				return elem.enc(append(b, 1), v.Elem())
			},
			dec: func(d *decoder, p unsafe.Pointer) error {
				if len(d.b) == 0 || d.b[0] > 1 {
					return errCodec
				}
				set := d.b[0] == 1
				d.b = d.b[1:]
				if !set {
					return nil
				}
				q := reflect.New(t.Elem()).UnsafePointer()
				*(*unsafe.Pointer)(p) = q
				return elem.dec(d, q)
			},
		}, nil
	case reflect.Slice:
		elem, err := codecFor(t.Elem())
		if err != nil {
			return nil, err
		}
		size := t.Elem().Size()
		return &codec{
			enc: func(b []byte, v reflect.Value) []byte {
				if v.IsNil() {
					return append(b, 0)
				}
				b = binary.AppendUvarint(b, uint64(v.Len())+1)
				for i := range v.Len() {
					b = elem.enc(b, v.Index(i))
				}
				return b
			},
			dec: func(d *decoder, p unsafe.Pointer) error {
				n, isNil, err := d.length()
				if err != nil || isNil {
					return err
				}
				s := reflect.MakeSlice(t, n, n)
				base := s.UnsafePointer()
				for i := range n {
					if err := elem.dec(d, unsafe.Add(base, uintptr(i)*size)); err != nil {
						return err
					}
				}
				reflect.NewAt(t, p).Elem().Set(s)
				return nil
			},
		}, nil
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			return nil, fmt.Errorf("cache codec: map key %s", t.Key())
		}
		key, err := codecFor(t.Key())
		if err != nil {
			return nil, err
		}
		elem, err := codecFor(t.Elem())
		if err != nil {
			return nil, err
		}
		return &codec{
			enc: func(b []byte, v reflect.Value) []byte {
				if v.IsNil() {
					return append(b, 0)
				}
				keys := v.MapKeys()
				sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
				b = binary.AppendUvarint(b, uint64(len(keys))+1)
				for _, k := range keys {
					b = key.enc(b, k)
					b = elem.enc(b, v.MapIndex(k))
				}
				return b
			},
			dec: func(d *decoder, p unsafe.Pointer) error {
				n, isNil, err := d.length()
				if err != nil || isNil {
					return err
				}
				m := reflect.MakeMapWithSize(t, n)
				k := reflect.New(t.Key())
				e := reflect.New(t.Elem())
				for i := range n {
					if i > 0 {
						e.Elem().SetZero() // SetMapIndex copied it
					}
					if err := key.dec(d, k.UnsafePointer()); err != nil {
						return err
					}
					if err := elem.dec(d, e.UnsafePointer()); err != nil {
						return err
					}
					m.SetMapIndex(k.Elem(), e.Elem())
				}
				reflect.NewAt(t, p).Elem().Set(m)
				return nil
			},
		}, nil
	case reflect.Struct:
		type field struct {
			index  int
			offset uintptr
			c      *codec
		}
		var fields []field
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				return nil, fmt.Errorf("cache codec: unexported field %s.%s", t, f.Name)
			}
			c, err := codecFor(f.Type)
			if err != nil {
				return nil, err
			}
			fields = append(fields, field{i, f.Offset, c})
		}
		return &codec{
			enc: func(b []byte, v reflect.Value) []byte {
				for _, f := range fields {
					b = f.c.enc(b, v.Field(f.index))
				}
				return b
			},
			dec: func(d *decoder, p unsafe.Pointer) error {
				for _, f := range fields {
					if err := f.c.dec(d, unsafe.Add(p, f.offset)); err != nil {
						return err
					}
				}
				return nil
			},
		}, nil
	}
	return nil, fmt.Errorf("cache codec: type %s", t)
}
