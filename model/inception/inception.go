// Package inception is pytorch-fid's FID InceptionV3: the network whose pool3
// features define FID (pytorch-fid 0.3.0, `InceptionV3([3])`, weights
// pt_inception-2015-12-05-6726825d.pth converted from TensorFlow's 2015 graph).
//
// It is torchvision's inception_v3 (1008 classes, no aux head) with the FID
// blocks: Mixed_5b/5c/5d are FIDInceptionA, Mixed_6b..6e FIDInceptionC, whose
// pooling branches average 3×3 windows with count_include_pad=False;
// Mixed_7b is FIDInceptionE_1 (same average pool) and Mixed_7c FIDInceptionE_2
// (3×3 max pool). Every BasicConv2d is a bias-free convolution, BatchNorm
// (eps 1e-3) and ReLU; BatchNorm is folded into the convolution at load time.
//
// Tensors are NHWC inside the graph: on the Go backend convolutions run as
// matrix products over the channel axis (package conv), and the 1×1 heads
// that read a block's input are fused into one product per block.
package inception

import (
	"fmt"
	"math"
	"sort"

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

// Released weights: the file users must supply, and where it is published.
const (
	WeightsFile = "pt_inception-2015-12-05-6726825d.pth"
	WeightsURL  = "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth"
)

// InputSize is the side of the square network input (both FID pipelines resize to it).
const InputSize = 299

// Feature sizes of the two outputs.
const (
	Pool3Dim   = 2048
	Mixed6eDim = 768
)

// bnEps is BatchNorm's epsilon in the TensorFlow-converted network.
const bnEps = 1e-3

// convSpec is one BasicConv2d: its state-dict prefix, torchvision's channel
// counts, kernel size, stride, and whether it is unpadded ("valid"); padded
// ones keep the spatial size (padding kh/2, kw/2).
type convSpec struct {
	name       string
	cin, cout  int
	kh, kw     int
	stride     int
	valid      bool
	fusedGroup string // the block's fused 1×1 head group, "" if none
}

// block is one Inception block: its kind (A, B, C, D, E1, E2) and input
// channels; for A the pool branch width, for C the 7×7 branch width.
type block struct {
	name string
	kind string
	cin  int
	arg  int
}

var stem = []convSpec{
	{name: "Conv2d_1a_3x3", cin: 3, cout: 32, kh: 3, kw: 3, stride: 2, valid: true},
	{name: "Conv2d_2a_3x3", cin: 32, cout: 32, kh: 3, kw: 3, stride: 1, valid: true},
	{name: "Conv2d_2b_3x3", cin: 32, cout: 64, kh: 3, kw: 3, stride: 1},
	// max pool 3×3 stride 2
	{name: "Conv2d_3b_1x1", cin: 64, cout: 80, kh: 1, kw: 1, stride: 1},
	{name: "Conv2d_4a_3x3", cin: 80, cout: 192, kh: 3, kw: 3, stride: 1, valid: true},
	// max pool 3×3 stride 2
}

var blocks = []block{
	{"Mixed_5b", "A", 192, 32}, {"Mixed_5c", "A", 256, 64}, {"Mixed_5d", "A", 288, 64},
	{"Mixed_6a", "B", 288, 0},
	{"Mixed_6b", "C", 768, 128}, {"Mixed_6c", "C", 768, 160}, {"Mixed_6d", "C", 768, 160}, {"Mixed_6e", "C", 768, 192},
	{"Mixed_7a", "D", 768, 0},
	{"Mixed_7b", "E1", 1280, 0}, {"Mixed_7c", "E2", 2048, 0},
}

// convs lists the BasicConv2d layers of a block in torchvision's order.
// "heads" marks the 1×1 convolutions that read the block input and are fused.
func (bl block) convs() []convSpec {
	c := func(branch string, cin, cout, kh, kw int) convSpec {
		return convSpec{name: bl.name + "." + branch, cin: cin, cout: cout, kh: kh, kw: kw, stride: 1}
	}
	head := func(branch string, cout int) convSpec {
		s := c(branch, bl.cin, cout, 1, 1)
		s.fusedGroup = bl.name + ".heads"
		return s
	}
	s2 := func(s convSpec) convSpec { s.stride, s.valid = 2, true; return s }
	switch bl.kind {
	case "A":
		return []convSpec{head("branch1x1", 64), head("branch5x5_1", 48), c("branch5x5_2", 48, 64, 5, 5),
			head("branch3x3dbl_1", 64), c("branch3x3dbl_2", 64, 96, 3, 3), c("branch3x3dbl_3", 96, 96, 3, 3),
			head("branch_pool", bl.arg)}
	case "B":
		return []convSpec{s2(c("branch3x3", bl.cin, 384, 3, 3)), c("branch3x3dbl_1", bl.cin, 64, 1, 1),
			c("branch3x3dbl_2", 64, 96, 3, 3), s2(c("branch3x3dbl_3", 96, 96, 3, 3))}
	case "C":
		c7 := bl.arg
		return []convSpec{head("branch1x1", 192), head("branch7x7_1", c7), c("branch7x7_2", c7, c7, 1, 7),
			c("branch7x7_3", c7, 192, 7, 1), head("branch7x7dbl_1", c7), c("branch7x7dbl_2", c7, c7, 7, 1),
			c("branch7x7dbl_3", c7, c7, 1, 7), c("branch7x7dbl_4", c7, c7, 7, 1), c("branch7x7dbl_5", c7, 192, 1, 7),
			head("branch_pool", 192)}
	case "D":
		return []convSpec{head("branch3x3_1", 192), s2(c("branch3x3_2", 192, 320, 3, 3)), head("branch7x7x3_1", 192),
			c("branch7x7x3_2", 192, 192, 1, 7), c("branch7x7x3_3", 192, 192, 7, 1), s2(c("branch7x7x3_4", 192, 192, 3, 3))}
	default: // E1, E2
		pool := head("branch_pool", 192)
		if bl.kind == "E2" { // max pool first, so its 1×1 conv cannot join the heads
			pool = c("branch_pool", bl.cin, 192, 1, 1)
		}
		return []convSpec{head("branch1x1", 320), head("branch3x3_1", 384), c("branch3x3_2a", 384, 384, 1, 3),
			c("branch3x3_2b", 384, 384, 3, 1), head("branch3x3dbl_1", 448), c("branch3x3dbl_2", 448, 384, 3, 3),
			c("branch3x3dbl_3a", 384, 384, 1, 3), c("branch3x3dbl_3b", 384, 384, 3, 1), pool}
	}
}

func allConvs() []convSpec {
	out := append([]convSpec(nil), stem...)
	for _, bl := range blocks {
		out = append(out, bl.convs()...)
	}
	return out
}

// TensorSpec names one state-dict tensor and its shape.
type TensorSpec struct {
	Name  string
	Shape []int
}

// StateDictSpecs lists the tensors of the pytorch-fid state dict (without
// num_batches_tracked), sorted by name as in fixtures/fid_inception/tensors.json.
func StateDictSpecs() []TensorSpec {
	var out []TensorSpec
	for _, c := range allConvs() {
		out = append(out, TensorSpec{c.name + ".conv.weight", []int{c.cout, c.cin, c.kh, c.kw}})
		for _, p := range []string{"weight", "bias", "running_mean", "running_var"} {
			out = append(out, TensorSpec{c.name + ".bn." + p, []int{c.cout}})
		}
	}
	out = append(out, TensorSpec{"fc.weight", []int{1008, Pool3Dim}}, TensorSpec{"fc.bias", []int{1008}})
	sortSpecs(out)
	return out
}

func sortSpecs(s []TensorSpec) {
	sort.Slice(s, func(i, j int) bool { return s[i].Name < s[j].Name })
}

// ---- loading ----

// folded is a BasicConv2d with its BatchNorm folded in: HWIO kernel and bias.
type folded struct {
	kernel []float32 // [kh, kw, cin, cout]
	bias   []float32 // [cout]
	cin    int
	cout   int
}

// foldBN reads conv.weight [cout,cin,kh,kw] and the BatchNorm tensors of one
// BasicConv2d and returns w·γ/√(var+eps) as HWIO and β − mean·γ/√(var+eps),
// computed in float64.
func foldBN(l *weights.Loader, c convSpec) (*folded, error) {
	wt, err := l.Take(c.name+".conv.weight", -1, -1, c.kh, c.kw)
	if err != nil {
		return nil, err
	}
	cout, cin := wt.Shape[0], wt.Shape[1]
	w, err := wt.Float64()
	if err != nil {
		return nil, err
	}
	bn := map[string][]float64{}
	for _, p := range []string{"weight", "bias", "running_mean", "running_var"} {
		t, err := l.Take(c.name+".bn."+p, cout)
		if err != nil {
			return nil, err
		}
		if bn[p], err = t.Float64(); err != nil {
			return nil, err
		}
	}
	f := &folded{kernel: make([]float32, len(w)), bias: make([]float32, cout), cin: cin, cout: cout}
	for o := range cout {
		scale := bn["weight"][o] / math.Sqrt(bn["running_var"][o]+bnEps)
		f.bias[o] = float32(bn["bias"][o] - bn["running_mean"][o]*scale)
		for i := range cin {
			for y := range c.kh {
				for x := range c.kw {
					f.kernel[((y*c.kw+x)*cin+i)*cout+o] = float32(w[((o*cin+i)*c.kh+y)*c.kw+x] * scale)
				}
			}
		}
	}
	return f, nil
}

// fuse concatenates 1×1 convolutions along the output channels.
func fuse(parts []*folded) *folded {
	cin := parts[0].cin
	out := &folded{cin: cin}
	for _, p := range parts {
		out.cout += p.cout
	}
	out.kernel = make([]float32, cin*out.cout)
	off := 0
	for _, p := range parts {
		for i := range cin {
			copy(out.kernel[i*out.cout+off:i*out.cout+off+p.cout], p.kernel[i*p.cout:(i+1)*p.cout])
		}
		out.bias = append(out.bias, p.bias...)
		off += p.cout
	}
	return out
}

// LoadVariables folds the pytorch-fid state dict in set (names as in the
// released .pth, optionally under a prefix such as "state_dict.") into
// variables under scope: "<conv name>/kernel" [kh,kw,cin,cout] and "/bias",
// and "<block>.heads/kernel" for each block's fused 1×1 heads. Every tensor
// of set must be used or known to be unused (fc, AuxLogits,
// num_batches_tracked).
func LoadVariables(scope *model.Scope, set weights.Set) error {
	prefix, ok := weights.FindPrefix(set, "Conv2d_1a_3x3.conv.weight")
	if !ok {
		return fmt.Errorf("no tensor Conv2d_1a_3x3.conv.weight: not pytorch-fid's FID Inception weights (%s)", WeightsFile)
	}
	var view weights.Set = set
	if prefix != "" {
		view = weights.Prefixed{Set: set, Prefix: prefix}
	}
	l := weights.NewLoader(view)
	l.Ignore("*.num_batches_tracked", "fc.*", "AuxLogits.*")
	groups := map[string][]*folded{}
	var order []string
	store := func(path string, f *folded, kh, kw int) error {
		k := tensors.FromFlatDataAndDimensions(f.kernel, kh, kw, f.cin, f.cout)
		if _, err := scope.Store().CreateVariable(model.JoinPath(scope.Scope(), path, "kernel"), k); err != nil {
			return err
		}
		_, err := scope.Store().CreateVariable(model.JoinPath(scope.Scope(), path, "bias"),
			tensors.FromFlatDataAndDimensions(f.bias, f.cout))
		return err
	}
	for _, c := range allConvs() {
		f, err := foldBN(l, c)
		if err != nil {
			return err
		}
		if c.fusedGroup != "" {
			if _, seen := groups[c.fusedGroup]; !seen {
				order = append(order, c.fusedGroup)
			}
			groups[c.fusedGroup] = append(groups[c.fusedGroup], f)
			continue
		}
		if err := store(c.name, f, c.kh, c.kw); err != nil {
			return err
		}
	}
	for _, g := range order {
		if err := store(g, fuse(groups[g]), 1, 1); err != nil {
			return err
		}
	}
	if err := l.CheckConsumed(); err != nil {
		return err
	}
	return nil
}

// ---- the network ----

// net builds the graph; it reads the variables created by LoadVariables.
type net struct {
	scope *model.Scope
	g     *Graph
	dtype dtypes.DType
	specs map[string]convSpec
}

func (n *net) variable(path, name string) *Node {
	full := model.JoinPath(n.scope.Scope(), path, name)
	v := n.scope.Store().GetVariable(full)
	if v == nil {
		exceptions.Panicf("inception: variable %s missing: load the weights with LoadVariables first", full)
	}
	return ConvertDType(v.NodeValue(n.g), n.dtype) // run in the input's precision
}

// conv applies BasicConv2d `name` (folded BatchNorm, then ReLU): x [B,H,W,Cin].
func (n *net) conv(x *Node, name string) *Node { return n.convAct(x, name, activation.TypeRelu) }

// linear is BasicConv2d without the ReLU.
func (n *net) linear(x *Node, name string) *Node { return n.convAct(x, name, activation.TypeNone) }

func (n *net) convAct(x *Node, name string, act activation.Type) *Node {
	c := n.specs[name]
	pad := conv.Same(c.kh, c.kw)
	if c.valid {
		pad = conv.Padding{}
	}
	return conv.Conv2DBias(x, n.variable(name, "kernel"), n.variable(name, "bias"), c.stride, c.stride, pad, act)
}

// heads runs a block's fused 1×1 heads on x and splits their pre-activation
// outputs by the widths of the given branches (in fused order).
func (n *net) heads(x *Node, blk string, branches ...string) []*Node {
	y := n.linear1x1(x, blk+".heads")
	out := make([]*Node, len(branches))
	off := 0
	for i, br := range branches {
		w := n.specs[blk+"."+br].cout
		out[i] = SliceAxis(y, 3, AxisRange(off, off+w))
		off += w
	}
	return out
}

func (n *net) linear1x1(x *Node, path string) *Node {
	return conv.Conv2DBias(x, n.variable(path, "kernel"), n.variable(path, "bias"), 1, 1, conv.Padding{}, activation.TypeNone)
}

// avgPool is the FID blocks' 3×3 stride-1 average pool with
// count_include_pad=False. Applied to a branch_pool's pre-activation output:
// averaging commutes with the 1×1 convolution (and its bias, since the
// divisor counts only real pixels), so pooling the narrower output is exact.
func avgPool(x *Node) *Node { return conv.AvgPool2D(x, 3, 1, conv.Sym(1), false) }

func maxPool3s2(x *Node) *Node { return conv.MaxPool2D(x, 3, 2, conv.Padding{}) }

// blockA: FIDInceptionA. [B,H,W,Cin] -> [B,H,W,64+64+96+pool].
func (n *net) blockA(x *Node, b string) *Node {
	h := n.heads(x, b, "branch1x1", "branch5x5_1", "branch3x3dbl_1", "branch_pool")
	b1 := activation.Relu(h[0])
	b5 := n.conv(activation.Relu(h[1]), b+".branch5x5_2")
	b3 := n.conv(n.conv(activation.Relu(h[2]), b+".branch3x3dbl_2"), b+".branch3x3dbl_3")
	bp := activation.Relu(avgPool(h[3]))
	return Concatenate([]*Node{b1, b5, b3, bp}, 3)
}

// blockB: InceptionB (Mixed_6a), stride 2. [B,35,35,288] -> [B,17,17,768].
func (n *net) blockB(x *Node, b string) *Node {
	b3 := n.conv(x, b+".branch3x3")
	bd := n.conv(n.conv(n.conv(x, b+".branch3x3dbl_1"), b+".branch3x3dbl_2"), b+".branch3x3dbl_3")
	return Concatenate([]*Node{b3, bd, maxPool3s2(x)}, 3)
}

// blockC: FIDInceptionC. [B,17,17,768] -> [B,17,17,768].
func (n *net) blockC(x *Node, b string) *Node {
	h := n.heads(x, b, "branch1x1", "branch7x7_1", "branch7x7dbl_1", "branch_pool")
	b1 := activation.Relu(h[0])
	b7 := n.conv(n.conv(activation.Relu(h[1]), b+".branch7x7_2"), b+".branch7x7_3")
	bd := activation.Relu(h[2])
	for _, s := range []string{"_2", "_3", "_4", "_5"} {
		bd = n.conv(bd, b+".branch7x7dbl"+s)
	}
	bp := activation.Relu(avgPool(h[3]))
	return Concatenate([]*Node{b1, b7, bd, bp}, 3)
}

// blockD: InceptionD (Mixed_7a), stride 2. [B,17,17,768] -> [B,8,8,1280].
func (n *net) blockD(x *Node, b string) *Node {
	h := n.heads(x, b, "branch3x3_1", "branch7x7x3_1")
	b3 := n.conv(activation.Relu(h[0]), b+".branch3x3_2")
	b7 := activation.Relu(h[1])
	for _, s := range []string{"_2", "_3", "_4"} {
		b7 = n.conv(b7, b+".branch7x7x3"+s)
	}
	return Concatenate([]*Node{b3, b7, maxPool3s2(x)}, 3)
}

// blockE: FIDInceptionE_1 (average pool) or E_2 (max pool). [B,8,8,Cin] -> [B,8,8,2048].
func (n *net) blockE(x *Node, b string, maxPool bool) *Node {
	var h []*Node
	var bp *Node
	if maxPool {
		h = n.heads(x, b, "branch1x1", "branch3x3_1", "branch3x3dbl_1")
		bp = n.conv(conv.MaxPool2D(x, 3, 1, conv.Sym(1)), b+".branch_pool")
	} else {
		h = n.heads(x, b, "branch1x1", "branch3x3_1", "branch3x3dbl_1", "branch_pool")
		bp = activation.Relu(avgPool(h[3]))
	}
	b1 := activation.Relu(h[0])
	b3 := activation.Relu(h[1])
	b3 = Concatenate([]*Node{n.conv(b3, b+".branch3x3_2a"), n.conv(b3, b+".branch3x3_2b")}, 3)
	bd := n.conv(activation.Relu(h[2]), b+".branch3x3dbl_2")
	bd = Concatenate([]*Node{n.conv(bd, b+".branch3x3dbl_3a"), n.conv(bd, b+".branch3x3dbl_3b")}, 3)
	return Concatenate([]*Node{b1, b3, bd, bp}, 3)
}

// Forward runs the network on x [B,3,H,W] (NCHW, already normalised to
// [-1,1]; H = W = 299 for FID) with the variables LoadVariables put under
// scope. It returns pool3 [B,2048] and Mixed_6e's output [B,17,17,768] (NHWC).
func Forward(scope *model.Scope, x *Node) (pool3, mixed6e *Node) {
	n := &net{scope: scope, g: x.Graph(), dtype: x.DType(), specs: map[string]convSpec{}}
	for _, c := range allConvs() {
		n.specs[c.name] = c
	}
	x = TransposeAllAxes(x, 0, 2, 3, 1) // NCHW -> NHWC
	for i, c := range stem {
		x = n.conv(x, c.name)
		if i == 2 || i == 4 { // after Conv2d_2b_3x3 and Conv2d_4a_3x3
			x = maxPool3s2(x)
		}
	}
	for _, bl := range blocks {
		switch bl.kind {
		case "A":
			x = n.blockA(x, bl.name)
		case "B":
			x = n.blockB(x, bl.name)
		case "C":
			x = n.blockC(x, bl.name)
		case "D":
			x = n.blockD(x, bl.name)
		case "E1", "E2":
			x = n.blockE(x, bl.name, bl.kind == "E2")
		}
		if bl.name == "Mixed_6e" {
			mixed6e = x
		}
	}
	return ReduceMean(x, 1, 2), mixed6e // adaptive average pool to 1×1
}

// Net is a loaded network with compiled executors.
type Net struct {
	backend compute.Backend
	store   *model.Store
	pool3   *model.Exec
	both    *model.Exec
}

// New loads the weights in set (see LoadVariables) for backend b.
func New(b compute.Backend, set weights.Set) (*Net, error) {
	store := model.NewStore()
	if err := LoadVariables(store.RootScope(), set); err != nil {
		return nil, err
	}
	n := &Net{backend: b, store: store}
	var err error
	n.pool3, err = model.NewExec(b, store, func(scope *model.Scope, x *Node) *Node {
		p, _ := Forward(scope, x)
		return p
	})
	if err != nil {
		return nil, err
	}
	n.both, err = model.NewExec(b, store, func(scope *model.Scope, x *Node) (*Node, *Node) {
		p, m := Forward(scope, x)
		return p, TransposeAllAxes(m, 0, 3, 1, 2) // NCHW like torch
	})
	return n, err
}

// Open loads a weights file (the released .pth, or a safetensors conversion).
func Open(b compute.Backend, path string) (*Net, error) {
	set, err := weights.Open(path)
	if err != nil {
		return nil, err
	}
	defer set.Close()
	n, err := New(b, set)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return n, nil
}

// Backend is the backend the network runs on.
func (n *Net) Backend() compute.Backend { return n.backend }

// Store holds the network's weights (parameter counts, sizes).
func (n *Net) Store() *model.Store { return n.store }

// Finalize frees the compiled programs.
func (n *Net) Finalize() {
	n.pool3.Finalize()
	n.both.Finalize()
}

// Pool3 returns the [B,2048] pool3 features of x [B,3,299,299] (normalised).
func (n *Net) Pool3(x *tensors.Tensor) (*tensors.Tensor, error) {
	if err := checkInput(x); err != nil {
		return nil, err
	}
	out, err := n.pool3.Call(x)
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// Features returns pool3 [B,2048] and Mixed_6e [B,768,17,17] (NCHW) of x.
func (n *Net) Features(x *tensors.Tensor) (pool3, mixed6e *tensors.Tensor, err error) {
	if err := checkInput(x); err != nil {
		return nil, nil, err
	}
	out, err := n.both.Call(x)
	if err != nil {
		return nil, nil, err
	}
	return out[0], out[1], nil
}

func checkInput(x *tensors.Tensor) error {
	d := x.Shape().Dimensions
	if len(d) != 4 || d[1] != 3 || d[2] < 75 || d[3] < 75 {
		return fmt.Errorf("inception input shape %v: want [B,3,H,W] with H, W >= 75 (299 for FID)", d)
	}
	return nil
}
