package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
)

// Decode reads the results in data: one JSON object, as `homalb sim --json`
// writes, or an array of them, as `homalb compare --json` writes. Unknown
// fields are ignored (files of newer versions still load); an object without
// a policy is not a result and is an error.
func Decode(data []byte) ([]*Result, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return nil, errors.New("empty file")
	}
	var results []*Result
	switch data[0] {
	case '{':
		var r Result
		if err := json.Unmarshal(data, &r); err != nil {
			return nil, jsonError(data, err)
		}
		results = []*Result{&r}
	case '[':
		if err := json.Unmarshal(data, &results); err != nil {
			return nil, jsonError(data, err)
		}
		if len(results) == 0 {
			return nil, errors.New("no results (empty array)")
		}
	default:
		return nil, errors.New("not JSON: want a result object or an array of them")
	}
	for i, r := range results {
		if r == nil || r.Policy == "" {
			if len(results) == 1 {
				return nil, errors.New("not a homalb result (no policy)")
			}
			return nil, fmt.Errorf("element %d: not a homalb result (no policy)", i)
		}
	}
	return results, nil
}

// ReadFile reads the results of a file written by `homalb sim --json` or
// `homalb compare --json`. Errors name the file.
func ReadFile(path string) ([]*Result, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err // *PathError names the file
	}
	rs, err := Decode(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return rs, nil
}

// jsonError adds the line and column to a JSON error.
func jsonError(data []byte, err error) error {
	var off int64 = -1
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		off = se.Offset
	case errors.As(err, &te):
		off = te.Offset
	}
	if off < 0 || off > int64(len(data)) {
		return fmt.Errorf("invalid JSON: %w", err)
	}
	line := 1 + bytes.Count(data[:off], []byte("\n"))
	col := off - int64(bytes.LastIndexByte(data[:off], '\n'))
	return fmt.Errorf("invalid JSON at line %d, column %d: %w", line, col, err)
}
