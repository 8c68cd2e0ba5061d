package world

import (
	"testing"
)

func TestDeterministicAndVaried(t *testing.T) {
	a, b := Generate(1, 5), Generate(1, 5)
	if a.Describe() != b.Describe() || a.Objects[0] != b.Objects[0] {
		t.Fatalf("same (seed, index) differs: %v vs %v", a, b)
	}
	classes := map[int]bool{}
	counts := map[int]bool{}
	for i := 0; i < 400; i++ {
		s := Generate(1, i)
		classes[s.Class] = true
		counts[s.Count] = true
		if s.Count != len(s.Objects) || ClassIndex(s.Shape, s.Color) != s.Class {
			t.Fatalf("scene %d inconsistent: %+v", i, s)
		}
		if ClassName(s.Class) != s.Color+" "+s.Shape {
			t.Fatalf("class name %q for %s %s", ClassName(s.Class), s.Color, s.Shape)
		}
	}
	if len(classes) != NumClasses() || len(counts) != 3 {
		t.Errorf("400 scenes cover %d/%d classes, %d counts", len(classes), NumClasses(), len(counts))
	}
}

func TestRenderShowsObjectColour(t *testing.T) {
	s := Generate(3, 0)
	img := s.Render(64)
	o := s.Objects[0]
	x, y := int(o.CX*64), int(o.CY*64)
	c := img.RGBAAt(x, y)
	want := rgb[o.Color]
	// The centre pixel is the object's colour or its texture's darker shade.
	ok := false
	for _, div := range []uint8{1, 2, 3} {
		if c.R == want[0]/div && c.G == want[1]/div && c.B == want[2]/div {
			ok = true
		}
	}
	if !ok {
		t.Errorf("centre pixel %v, object colour %v (%s)", c, want, s.Describe())
	}
}
