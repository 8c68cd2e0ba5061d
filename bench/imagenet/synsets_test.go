package imagenet

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/dualtoken/evalharness/bench"
)

// writeFlat writes a flat layout whose synsets.txt lists wnids in the given
// order ("wnid words" lines, as LOC_synset_mapping.txt has them) and whose
// ground truth holds ILSVRC2012_ID 1.
func writeFlat(t *testing.T, wnids []string) string {
	t.Helper()
	dir := t.TempDir()
	var syn, names strings.Builder
	for _, w := range wnids {
		fmt.Fprintf(&syn, "%s class %s, other name\n", w, w)
	}
	sorted := slices.Sorted(slices.Values(wnids))
	for _, w := range sorted {
		fmt.Fprintf(&names, "class %s\n", w)
	}
	for name, body := range map[string]string{
		"synsets.txt": syn.String(), "classnames.txt": names.String(),
		"ILSVRC2012_validation_ground_truth.txt": "1\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// A 1000-class ID -> WNID list in sorted-WNID order (Kaggle's
// LOC_synset_mapping.txt) is refused in the flat layout: the ground truth's
// IDs follow meta.mat's order, so it would relabel the images. The same
// classes in another order are read, ID 1 mapping to its WNID's sorted index.
func TestFlatLayoutRefusesSortedSynsets(t *testing.T) {
	wnids := make([]string, numILSVRCClasses)
	for i := range wnids {
		wnids[i] = fmt.Sprintf("n%08d", 1440764+1000*i)
	}
	dir := writeFlat(t, wnids)
	_, err := New(bench.Options{Data: dir})
	syn := filepath.Join(dir, "synsets.txt")
	for _, want := range []string{syn, "sorted order", "LOC_synset_mapping.txt", "ILSVRC2012_validation_ground_truth.txt", "meta.mat", "--opt synsets=FILE"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("sorted synsets: got %v, want an error with %q", err, want)
		}
	}

	devkit := slices.Clone(wnids)
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(devkit), func(i, j int) { devkit[i], devkit[j] = devkit[j], devkit[i] })
	task, err := New(bench.Options{Data: writeFlat(t, devkit)})
	if err != nil {
		t.Fatalf("synsets in ID order: %v", err)
	}
	items, _ := task.Items()
	if got, want := items[0].Payload.(sample).Label, slices.Index(wnids, devkit[0]); got != want {
		t.Errorf("ILSVRC2012_ID 1 (%s) labelled %d, want its sorted index %d", devkit[0], got, want)
	}

	// A small test set is not the ILSVRC list: its order is the user's.
	if _, err := New(bench.Options{Data: writeFlat(t, wnids[:10])}); err != nil {
		t.Errorf("10 sorted synsets: %v", err)
	}
}
