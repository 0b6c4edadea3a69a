using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Runnel.Metadata.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class EventSourceMappings : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "event_source_mappings",
                columns: table => new
                {
                    Uuid = table.Column<string>(type: "TEXT", maxLength: 36, nullable: false),
                    StreamId = table.Column<long>(type: "INTEGER", nullable: false),
                    EventSourceArn = table.Column<string>(type: "TEXT", maxLength: 2048, nullable: false),
                    FunctionName = table.Column<string>(type: "TEXT", maxLength: 2048, nullable: false),
                    Enabled = table.Column<bool>(type: "INTEGER", nullable: false),
                    State = table.Column<string>(type: "TEXT", maxLength: 16, nullable: false),
                    StateTransitionReason = table.Column<string>(type: "TEXT", maxLength: 256, nullable: false),
                    BatchSize = table.Column<int>(type: "INTEGER", nullable: false),
                    MaximumBatchingWindowInSeconds = table.Column<int>(type: "INTEGER", nullable: false),
                    StartingPosition = table.Column<string>(type: "TEXT", maxLength: 16, nullable: false),
                    StartingPositionTimestamp = table.Column<long>(type: "INTEGER", nullable: true),
                    ParallelizationFactor = table.Column<int>(type: "INTEGER", nullable: false),
                    MaximumRetryAttempts = table.Column<int>(type: "INTEGER", nullable: false),
                    BisectBatchOnFunctionError = table.Column<bool>(type: "INTEGER", nullable: false),
                    MaximumRecordAgeInSeconds = table.Column<int>(type: "INTEGER", nullable: false),
                    OnFailureDestination = table.Column<string>(type: "TEXT", maxLength: 2048, nullable: true),
                    ReportBatchItemFailures = table.Column<bool>(type: "INTEGER", nullable: false),
                    CreatedAt = table.Column<long>(type: "INTEGER", nullable: false),
                    LastModified = table.Column<long>(type: "INTEGER", nullable: false),
                    LastProcessingResult = table.Column<string>(type: "TEXT", maxLength: 1024, nullable: false),
                    Version = table.Column<long>(type: "INTEGER", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_event_source_mappings", x => x.Uuid);
                });

            migrationBuilder.CreateIndex(
                name: "IX_event_source_mappings_FunctionName",
                table: "event_source_mappings",
                column: "FunctionName");

            migrationBuilder.CreateIndex(
                name: "IX_event_source_mappings_StreamId",
                table: "event_source_mappings",
                column: "StreamId");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "event_source_mappings");
        }
    }
}
