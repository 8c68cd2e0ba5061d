// Package lpips is LPIPS v0.1 with the VGG16 backbone (Zhang et al. 2018, the
// `lpips` package's LPIPS(net="vgg")), as a graph function usable inside a
// training graph: differentiable with respect to both images, weights held as
// non-trainable variables.
//
//	x in [-1,1] --scaling layer--> VGG16 features (torchvision indices 0..29),
//	tapped after relu1_2, relu2_2, relu3_3, relu4_3, relu5_3
//	per tap: unit-normalise over channels (eps 1e-10), squared difference,
//	1×1 head without bias (linK), spatial mean;  LPIPS = sum over the 5 taps.
//
// Weights: torchvision's vgg16-397923af.pth (features.N.weight/bias; the
// classifier is ignored) and the lpips package's weights/v0.1/vgg.pth
// (linK.model.1.weight). A full LPIPS state dict (net.sliceK.N.*, linK.*)
// loads too.
package lpips

import (
	"fmt"
	"math"
	"os"
	"sort"
	"strings"

	"github.com/dualtoken/evalharness/model/conv"
	"github.com/dualtoken/evalharness/model/weights"
	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // graph DSL
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/layers/activation"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/support/exceptions"
)

// The weight files users supply, and where they are published.
const (
	VGGFile = "vgg16-397923af.pth"
	VGGURL  = "https://download.pytorch.org/models/vgg16-397923af.pth"
	LinFile = "vgg.pth"
	LinURL  = "https://github.com/richzhang/PerceptualSimilarity/raw/master/lpips/weights/v0.1/vgg.pth"
)

// Scaling layer: x ↦ (x − shift)/scale per RGB channel (ImageNet statistics in [-1,1] units).
var (
	shift = [3]float32{-.030, -.088, -.188}
	scale = [3]float32{.458, .448, .450}
)

// vggConvs are the torchvision indices of VGG16's convolutions up to relu5_3
// with their output channels; each is followed by a ReLU at index+1.
var vggConvs = []struct{ index, cout int }{
	{0, 64}, {2, 64}, {5, 128}, {7, 128}, {10, 256}, {12, 256}, {14, 256},
	{17, 512}, {19, 512}, {21, 512}, {24, 512}, {26, 512}, {28, 512},
}

// pools are the indices of VGG16's 2×2/2 max pools before relu5_3.
var pools = map[int]bool{4: true, 9: true, 16: true, 23: true}

// taps are the ReLU indices whose outputs LPIPS compares (relu1_2 .. relu5_3).
var taps = []int{3, 8, 15, 22, 29}

// NumLayers is the number of compared layers (per_layer's second axis).
const NumLayers = 5

// TensorSpec names one checkpoint tensor and its shape.
type TensorSpec struct {
	Name  string
	Shape []int
}

// StateDictSpecs lists the tensors LPIPS reads, with torchvision's and the
// lpips package's names and shapes, sorted by name (fixtures/lpips/tensors.json).
func StateDictSpecs() []TensorSpec {
	var out []TensorSpec
	cin := 3
	for _, c := range vggConvs {
		out = append(out, TensorSpec{fmt.Sprintf("features.%d.weight", c.index), []int{c.cout, cin, 3, 3}},
			TensorSpec{fmt.Sprintf("features.%d.bias", c.index), []int{c.cout}})
		cin = c.cout
	}
	for k, c := range tapChannels() {
		out = append(out, TensorSpec{fmt.Sprintf("lin%d.model.1.weight", k), []int{1, c, 1, 1}})
	}
	sortSpecs(out)
	return out
}

// tapChannels are the channel counts at the five taps.
func tapChannels() []int {
	var out []int
	c := 0
	for _, v := range vggConvs {
		c = v.cout
		for _, t := range taps {
			if v.index+1 == t {
				out = append(out, c)
			}
		}
	}
	return out
}

// canonical maps a checkpoint name to the torchvision/lpips name it stands
// for: "net.slice2.5.weight" (a full LPIPS state dict) -> "features.5.weight".
func canonical(name string) string {
	if rest, ok := strings.CutPrefix(name, "net.slice"); ok {
		if _, after, ok := strings.Cut(rest, "."); ok {
			return "features." + after
		}
	}
	return name
}

// merged is a Set over several checkpoints with canonical names.
type merged struct {
	byName map[string]weights.Set
	orig   map[string]string
	names  []string
}

func merge(sets ...weights.Set) (*merged, error) {
	m := &merged{byName: map[string]weights.Set{}, orig: map[string]string{}}
	for _, s := range sets {
		prefix := ""
		if p, ok := weights.FindPrefix(s, "lin0.model.1.weight"); ok {
			prefix = p
		} else if p, ok := weights.FindPrefix(s, "features.0.weight"); ok {
			prefix = p
		}
		for _, n := range s.Names() {
			if !strings.HasPrefix(n, prefix) {
				continue
			}
			c := canonical(strings.TrimPrefix(n, prefix))
			if _, dup := m.byName[c]; dup {
				return nil, fmt.Errorf("tensor %s is supplied twice", c)
			}
			m.byName[c], m.orig[c] = s, n
			m.names = append(m.names, c)
		}
	}
	sort.Strings(m.names)
	return m, nil
}

func (m *merged) Names() []string      { return m.names }
func (m *merged) Has(name string) bool { _, ok := m.byName[name]; return ok }
func (m *merged) Get(name string) (*weights.Tensor, error) {
	s, ok := m.byName[name]
	if !ok {
		return nil, fmt.Errorf("no tensor %q in the LPIPS weights (need %s and %s)", name, VGGFile, LinFile)
	}
	return s.Get(m.orig[name])
}
func (m *merged) Close() error { return nil }

// LoadVariables puts the LPIPS weights from sets (torchvision's VGG16 file
// and lpips' vgg.pth, or one file holding both) under scope as non-trainable
// variables: "features.N/kernel" [3,3,cin,cout], "features.N/bias", and
// "linK/weight" [C]. Every tensor must be used or known to be unused (VGG's
// classifier).
func LoadVariables(scope *model.Scope, sets ...weights.Set) error {
	m, err := merge(sets...)
	if err != nil {
		return err
	}
	l := weights.NewLoader(m)
	l.Ignore("classifier.*", "features.*.num_batches_tracked")
	create := func(path, name string, t *tensors.Tensor) error {
		v, err := scope.Store().CreateVariable(model.JoinPath(scope.Scope(), path, name), t)
		if err != nil {
			return err
		}
		v.SetTrainable(false)
		return nil
	}
	cin := 3
	for _, c := range vggConvs {
		name := fmt.Sprintf("features.%d", c.index)
		w, err := l.Take(name+".weight", -1, cin, 3, 3)
		if err != nil {
			return err
		}
		cout := w.Shape[0]
		b, err := l.Take(name+".bias", cout)
		if err != nil {
			return err
		}
		wv, err := w.Float32()
		if err != nil {
			return err
		}
		bv, err := b.Float32()
		if err != nil {
			return err
		}
		k := make([]float32, len(wv)) // OIHW -> HWIO
		for o := range cout {
			for i := range cin {
				for y := range 3 {
					for x := range 3 {
						k[((y*3+x)*cin+i)*cout+o] = wv[((o*cin+i)*3+y)*3+x]
					}
				}
			}
		}
		if err := create(name, "kernel", tensors.FromFlatDataAndDimensions(k, 3, 3, cin, cout)); err != nil {
			return err
		}
		if err := create(name, "bias", tensors.FromFlatDataAndDimensions(bv, cout)); err != nil {
			return err
		}
		cin = cout
	}
	for k, c := range tapChannels() {
		name := fmt.Sprintf("lin%d.model.1.weight", k)
		w, err := l.Take(name, 1, c, 1, 1)
		if err != nil {
			return err
		}
		wv, err := w.Float32()
		if err != nil {
			return err
		}
		if err := create(fmt.Sprintf("lin%d", k), "weight", tensors.FromFlatDataAndDimensions(wv, c)); err != nil {
			return err
		}
	}
	return l.CheckConsumed()
}

// LoadFiles opens the two weight files and loads them (LoadVariables). A
// missing file is an error naming the file to supply and where it is published.
func LoadFiles(scope *model.Scope, vggPath, linPath string) error {
	var sets []weights.Set
	for _, f := range []struct{ path, file, url string }{{vggPath, VGGFile, VGGURL}, {linPath, LinFile, LinURL}} {
		if f.path == "" {
			return fmt.Errorf("LPIPS weights: no path given for %s (download it from %s)", f.file, f.url)
		}
		if _, err := os.Stat(f.path); err != nil {
			return fmt.Errorf("LPIPS weights: %s not found: supply %s (published at %s)", f.path, f.file, f.url)
		}
		s, err := weights.Open(f.path)
		if err != nil {
			return err
		}
		defer s.Close()
		sets = append(sets, s)
	}
	if err := LoadVariables(scope, sets...); err != nil {
		return fmt.Errorf("LPIPS weights %s + %s: %w", vggPath, linPath, err)
	}
	return nil
}

// LoadUntrained loads deterministic stand-in weights (FormulaWeights) for
// runs without the real files, and returns the warning to show the user: the
// values it computes are not LPIPS.
func LoadUntrained(scope *model.Scope) (warning string, err error) {
	if err := LoadVariables(scope, FormulaWeights(StateDictSpecs())); err != nil {
		return "", err
	}
	return fmt.Sprintf("LPIPS is running WITHOUT its trained weights (supply %s from %s and %s from %s): "+
		"the perceptual loss uses fixed untrained stand-in weights and its values are not LPIPS",
		VGGFile, VGGURL, LinFile, LinURL), nil
}

// ---- the network ----

// variable reads a weight as dtype, so the network runs in the input's
// precision (float64 for checks, bfloat16 on accelerators).
func variable(scope *model.Scope, g *Graph, dtype dtypes.DType, path, name string) *Node {
	full := model.JoinPath(scope.Scope(), path, name)
	v := scope.Store().GetVariable(full)
	if v == nil {
		exceptions.Panicf("lpips: variable %s missing: load the weights with LoadVariables first", full)
	}
	return ConvertDType(v.NodeValue(g), dtype)
}

// Features returns VGG16's five tap activations [B,H_k,W_k,C_k] (NHWC) for
// x [B,3,H,W] (NCHW, in [-1,1]), after the scaling layer.
func Features(scope *model.Scope, x *Node) []*Node {
	g := x.Graph()
	x = TransposeAllAxes(x, 0, 2, 3, 1)
	sh := Const(g, []float32{shift[0], shift[1], shift[2]})
	sc := Const(g, []float32{scale[0], scale[1], scale[2]})
	x = Div(Sub(x, ExpandLeftToRank(ConvertDType(sh, x.DType()), 4)), ExpandLeftToRank(ConvertDType(sc, x.DType()), 4))
	var out []*Node
	for _, c := range vggConvs {
		if pools[c.index-1] {
			x = conv.MaxPool2D(x, 2, 2, conv.Padding{})
		}
		name := fmt.Sprintf("features.%d", c.index)
		y := conv.Conv2D(x, variable(scope, g, x.DType(), name, "kernel"), 1, 1, conv.Sym(1))
		x = activation.Relu(Add(y, ExpandLeftToRank(variable(scope, g, x.DType(), name, "bias"), 4)))
		for _, t := range taps {
			if c.index+1 == t {
				out = append(out, x)
			}
		}
	}
	return out
}

// normalize divides x [B,H,W,C] by its channel norm plus 1e-10 (lpips' normalize_tensor).
func normalize(x *Node) *Node {
	n := Sqrt(ReduceAndKeep(Square(x), ReduceSum, 3))
	return Div(x, AddScalar(n, 1e-10))
}

// PerLayer returns the per-layer distances [B,5] between x0 and x1 [B,3,H,W]
// (NCHW, in [-1,1]).
func PerLayer(scope *model.Scope, x0, x1 *Node) *Node {
	g := x0.Graph()
	b := x0.Shape().Dimensions[0]
	f0 := Features(scope, Concatenate([]*Node{x0, x1}, 0)) // one pass over both images
	cols := make([]*Node, len(f0))
	for k, f := range f0 {
		a := SliceAxis(f, 0, AxisRange(0, b))
		c := SliceAxis(f, 0, AxisRange(b, 2*b))
		d := Square(Sub(normalize(a), normalize(c)))                           // [B,H,W,C]
		w := variable(scope, g, x0.DType(), fmt.Sprintf("lin%d", k), "weight") // [C]
		cols[k] = ReduceMean(ReduceSum(Mul(d, ExpandLeftToRank(w, 4)), 3), 1, 2)
	}
	return Stack(cols, 1)
}

// Distance is LPIPS between x0 and x1 [B,3,H,W] (NCHW, in [-1,1]): [B].
// It is differentiable in both inputs.
func Distance(scope *model.Scope, x0, x1 *Node) *Node {
	return ReduceSum(PerLayer(scope, x0, x1), 1)
}

// Net is a standalone LPIPS evaluator.
type Net struct {
	store *model.Store
	exec  *model.Exec
	// Warning is non-empty when the net runs on stand-in weights.
	Warning string
}

// New builds an evaluator for backend b from the two weight files; with
// allowUntrained and no paths it runs on stand-in weights and sets Warning.
func New(b compute.Backend, vggPath, linPath string, allowUntrained bool) (*Net, error) {
	n := &Net{store: model.NewStore()}
	var err error
	if vggPath == "" && linPath == "" && allowUntrained {
		n.Warning, err = LoadUntrained(n.store.RootScope())
	} else {
		err = LoadFiles(n.store.RootScope(), vggPath, linPath)
	}
	if err != nil {
		return nil, err
	}
	n.exec, err = model.NewExec(b, n.store, func(scope *model.Scope, x0, x1 *Node) (*Node, *Node) {
		p := PerLayer(scope, x0, x1)
		return ReduceSum(p, 1), p
	})
	return n, err
}

// NewFromSets builds an evaluator from already opened weight sets.
func NewFromSets(b compute.Backend, sets ...weights.Set) (*Net, error) {
	n := &Net{store: model.NewStore()}
	if err := LoadVariables(n.store.RootScope(), sets...); err != nil {
		return nil, err
	}
	var err error
	n.exec, err = model.NewExec(b, n.store, func(scope *model.Scope, x0, x1 *Node) (*Node, *Node) {
		p := PerLayer(scope, x0, x1)
		return ReduceSum(p, 1), p
	})
	return n, err
}

// Compute returns LPIPS [B] and the per-layer values [B,5] for x0, x1
// [B,3,H,W] in [-1,1].
func (n *Net) Compute(x0, x1 *tensors.Tensor) (dist, perLayer *tensors.Tensor, err error) {
	if !x0.Shape().Equal(x1.Shape()) || x0.Rank() != 4 || x0.Shape().Dimensions[1] != 3 {
		return nil, nil, fmt.Errorf("lpips: inputs %s and %s: want two [B,3,H,W] tensors of one shape", x0.Shape(), x1.Shape())
	}
	out, err := n.exec.Call(x0, x1)
	if err != nil {
		return nil, nil, err
	}
	return out[0], out[1], nil
}

// ---- formula weights (fixtures/lpips) ----

// FormulaWeights builds the lpips fixture's test weights: specs[j] is the
// tensor with index j (names sorted); with base = u/2³¹ − 1 as in
// fixtures/README, VGG convolutions are 1.5·base·√3·√(2/fan_in), VGG biases
// 0.01·base and heads 0.1·|base·√3·√(2/C)|, each step rounded to float32 as
// torch computes it.
func FormulaWeights(specs []TensorSpec) *weights.MemSet {
	set := weights.NewMemSet("LPIPS formula weights")
	for j, s := range specs {
		n, fanIn := 1, 1
		for i, d := range s.Shape {
			n *= d
			if i > 0 {
				fanIn *= d
			}
		}
		v := make([]float32, n)
		for i := range v {
			u := (uint64(i)*2654435761 + uint64(j+1)*97531) & 0xFFFFFFFF
			base := float64(u)/(1<<31) - 1
			he := float32(base * math.Sqrt(3) * math.Sqrt(2/float64(fanIn)))
			switch {
			case strings.HasSuffix(s.Name, "bias"):
				v[i] = float32(0.1*base) * float32(0.1)
			case strings.HasPrefix(s.Name, "lin"):
				v[i] = float32(math.Abs(float64(he))) * float32(0.1)
			default:
				v[i] = he * float32(1.5)
			}
		}
		set.Add(weights.FromFloat32(s.Name, s.Shape, v))
	}
	return set
}

func sortSpecs(s []TensorSpec) {
	sort.Slice(s, func(i, j int) bool { return s[i].Name < s[j].Name })
}
