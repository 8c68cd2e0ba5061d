// Package world generates the procedural image–caption world the repo trains
// and evaluates its tiny models on: scenes of coloured, textured shapes at
// named positions in counts of one to three, each with captions, class labels
// and question–answer facts. Everything is a pure function of (seed, index),
// so data never has to be shipped.
package world

import (
	"fmt"
	"image"
	"image/color"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/dualtoken/evalharness/imageio"
)

// The vocabulary of the world.
var (
	Shapes   = []string{"circle", "square", "triangle", "cross"}
	Colors   = []string{"red", "green", "blue", "yellow", "purple", "white"}
	Textures = []string{"plain", "striped", "dotted"}
	// Positions name the cell of a 3x3 grid; counts > 1 spread objects.
	Positions = []string{"top left", "top", "top right", "left", "center", "right", "bottom left", "bottom", "bottom right"}
	Numbers   = []string{"zero", "one", "two", "three"}
)

var rgb = map[string][3]uint8{
	"red": {220, 40, 40}, "green": {40, 170, 60}, "blue": {40, 80, 220},
	"yellow": {235, 215, 40}, "purple": {150, 60, 190}, "white": {245, 245, 245},
}

// Object is one shape instance.
type Object struct {
	Shape, Color, Texture string
	Cell                  int     // index into Positions
	CX, CY, R             float64 // centre and radius in [0,1] image units
}

// Scene is one generated image's content: Count objects of the same shape,
// colour and texture (the "class"), on a background.
type Scene struct {
	Index   int
	Class   int // ClassIndex(shape, color)
	Shape   string
	Color   string
	Texture string
	Count   int
	Objects []Object
	BG      [3]uint8
}

// NumClasses is the number of zero-shot classes (shape × colour).
func NumClasses() int { return len(Shapes) * len(Colors) }

// ClassIndex numbers (shape, colour) pairs.
func ClassIndex(shape, col string) int {
	return indexOf(Shapes, shape)*len(Colors) + indexOf(Colors, col)
}

// ClassName is the class's name as zero-shot templates use it ("red circle").
func ClassName(c int) string {
	return Colors[c%len(Colors)] + " " + Shapes[c/len(Colors)]
}

func indexOf(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	panic("world: unknown word " + s)
}

// Generate returns scene i of the world seeded by seed.
func Generate(seed uint64, i int) Scene {
	r := rand.New(rand.NewPCG(seed, uint64(i)*0x9E3779B97F4A7C15+1))
	s := Scene{Index: i}
	s.Class = r.IntN(NumClasses())
	s.Shape, s.Color = Shapes[s.Class/len(Colors)], Colors[s.Class%len(Colors)]
	s.Texture = Textures[r.IntN(len(Textures))]
	s.Count = 1 + r.IntN(3)
	// Dark, slightly varying backgrounds keep every colour visible.
	s.BG = [3]uint8{uint8(20 + r.IntN(50)), uint8(20 + r.IntN(50)), uint8(20 + r.IntN(50))}
	cells := r.Perm(9)[:s.Count]
	for _, c := range cells {
		rad := 0.10 + 0.05*r.Float64()
		if s.Count == 1 {
			rad += 0.05
		}
		cx := (float64(c%3)+0.5)/3 + (r.Float64()-0.5)*0.06
		cy := (float64(c/3)+0.5)/3 + (r.Float64()-0.5)*0.06
		s.Objects = append(s.Objects, Object{Shape: s.Shape, Color: s.Color, Texture: s.Texture, Cell: c, CX: cx, CY: cy, R: rad})
	}
	return s
}

func plural(shape string, n int) string {
	if n == 1 {
		return shape
	}
	if shape == "cross" {
		return "crosses"
	}
	return shape + "s"
}

// Where describes the objects' positions in words.
func (s Scene) Where() string {
	if s.Count == 1 {
		return "at the " + Positions[s.Objects[0].Cell]
	}
	return "spread across the image"
}

// Captions returns five captions of the scene, like Flickr8K's five per image.
func (s Scene) Captions() []string {
	n, shp := Numbers[s.Count], plural(s.Shape, s.Count)
	tex := s.Texture
	if tex == "plain" {
		tex = "solid"
	}
	return []string{
		fmt.Sprintf("%s %s %s %s", n, s.Color, shp, s.Where()),
		fmt.Sprintf("a picture of %s %s %s %s", n, tex, s.Color, shp),
		fmt.Sprintf("%s %s %s on a dark background", n, s.Color, shp),
		fmt.Sprintf("the image shows %s %s %s", n, s.Color, shp),
		fmt.Sprintf("%s %s shapes, %s", n, s.Color, tex),
	}
}

// Render draws the scene at size×size pixels with 4×4 supersampling
// (smooth edges, like photographs rather than aliased drawings).
func (s Scene) Render(size int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, size, size))
	const ss = 4
	for y := 0; y < size; y++ {
		for x := 0; x < size; x++ {
			var acc [3]int
			for sy := 0; sy < ss; sy++ {
				for sx := 0; sx < ss; sx++ {
					u := (float64(x) + (float64(sx)+0.5)/ss) / float64(size)
					v := (float64(y) + (float64(sy)+0.5)/ss) / float64(size)
					c := s.colorAt(u, v)
					acc[0] += int(c[0])
					acc[1] += int(c[1])
					acc[2] += int(c[2])
				}
			}
			img.SetRGBA(x, y, color.RGBA{uint8(acc[0] / (ss * ss)), uint8(acc[1] / (ss * ss)), uint8(acc[2] / (ss * ss)), 255})
		}
	}
	return img
}

func (s Scene) colorAt(u, v float64) [3]uint8 {
	// Background: gentle diagonal gradient.
	g := 0.85 + 0.3*(u+v)/2
	bg := [3]uint8{clamp8(float64(s.BG[0]) * g), clamp8(float64(s.BG[1]) * g), clamp8(float64(s.BG[2]) * g)}
	for _, o := range s.Objects {
		dx, dy := (u-o.CX)/o.R, (v-o.CY)/o.R
		if !inside(o.Shape, dx, dy) {
			continue
		}
		c := rgb[o.Color]
		switch o.Texture {
		case "striped":
			if math.Mod(math.Floor((dx+dy+4)*2.5), 2) == 0 {
				return [3]uint8{c[0] / 2, c[1] / 2, c[2] / 2}
			}
		case "dotted":
			fx, fy := math.Mod(dx*2.5+10, 1)-0.5, math.Mod(dy*2.5+10, 1)-0.5
			if fx*fx+fy*fy < 0.06 {
				return [3]uint8{c[0] / 3, c[1] / 3, c[2] / 3}
			}
		}
		return c
	}
	return bg
}

func inside(shape string, dx, dy float64) bool {
	switch shape {
	case "circle":
		return dx*dx+dy*dy <= 1
	case "square":
		return math.Abs(dx) <= 0.8 && math.Abs(dy) <= 0.8
	case "triangle":
		return dy <= 0.8 && dy >= -1 && math.Abs(dx) <= (dy+1)/1.8*1.0
	case "cross":
		return (math.Abs(dx) <= 0.3 && math.Abs(dy) <= 1) || (math.Abs(dy) <= 0.3 && math.Abs(dx) <= 1)
	}
	return false
}

func clamp8(x float64) uint8 {
	return uint8(math.Max(0, math.Min(255, math.Round(x))))
}

// Fact is a yes/no statement about a scene for POPE/MME-style questions.
type Fact struct {
	Question string
	Answer   bool
}

// ObjectQuestion asks whether an object named by colour and shape is present.
func ObjectQuestion(col, shape string) string {
	return fmt.Sprintf("Is there a %s %s in the image?", col, shape)
}

// Describe is a one-line summary used in logs and MM-Vet style answers.
func (s Scene) Describe() string {
	return strings.TrimSpace(fmt.Sprintf("%s %s %s %s %s", Numbers[s.Count], s.Texture, s.Color, plural(s.Shape, s.Count), s.Where()))
}

// Image renders the scene as an imageio RGB image.
func (s Scene) Image(size int) *imageio.Image {
	rgba := s.Render(size)
	img := imageio.New(size, size)
	for i := 0; i < size*size; i++ {
		copy(img.Pix[3*i:3*i+3], rgba.Pix[4*i:4*i+3])
	}
	return img
}

// WNID is the synthetic WordNet-style id of class c, so world data can use
// ImageNet's file layouts.
func WNID(c int) string { return fmt.Sprintf("w%08d", 1000+c) }
