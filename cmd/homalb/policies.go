package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/homalb/homalb/balance"
	"github.com/spf13/cobra"
)

func newPoliciesCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "policies",
		Short: "List the SoftIRQ steering policies and the rule each implements",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintln(w, "POLICY\tHOMA GRO\tRULE")
			for _, p := range balance.Catalog() {
				homa := "no"
				if p.HomaGRO {
					homa = "yes"
				}
				fmt.Fprintf(w, "%s\t%s\t%s\n", p.Name, homa, p.Rule)
			}
			fmt.Fprintln(w, "\nHOMA GRO yes: whole-message DATA and GRANT packets bypass to SoftIRQ on the GRO core unless its GRO is busy; batches of one packet stay on the GRO core.")
			return w.Flush()
		},
	}
}
