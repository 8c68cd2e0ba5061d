package imagenet

import "slices"

// Templates returns a copy of the named prompt-template set as the task uses
// it (openai80, clip_paper, clip_best, class_name_only); "{}" stands for the
// class name. Trainers use it to check their vocabularies and to measure
// zero-shot accuracy with the suite's own prompts.
func Templates(name string) ([]string, error) {
	t, err := (&Task{templates: name}).templateList()
	return slices.Clone(t), err
}
