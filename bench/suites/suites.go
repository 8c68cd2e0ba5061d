// Package suites imports every benchmark suite and model adapter so that a
// blank import registers them all.
package suites

import (
	_ "github.com/dualtoken/evalharness/bench/flickr8k"
	_ "github.com/dualtoken/evalharness/bench/imagenet"
	_ "github.com/dualtoken/evalharness/bench/mmbench"
	_ "github.com/dualtoken/evalharness/bench/mme"
	_ "github.com/dualtoken/evalharness/bench/mmvet"
	_ "github.com/dualtoken/evalharness/bench/models"
	_ "github.com/dualtoken/evalharness/bench/pope"
	_ "github.com/dualtoken/evalharness/bench/recon"
	_ "github.com/dualtoken/evalharness/bench/seed"
	_ "github.com/dualtoken/evalharness/bench/vqa"
)
