using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Runnel.Metadata.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class AnalyticsApplications : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "analytics_applications",
                columns: table => new
                {
                    Name = table.Column<string>(type: "TEXT", maxLength: 128, nullable: false),
                    Arn = table.Column<string>(type: "TEXT", maxLength: 2048, nullable: false),
                    Description = table.Column<string>(type: "TEXT", maxLength: 1024, nullable: true),
                    Code = table.Column<string>(type: "TEXT", maxLength: 102400, nullable: true),
                    VersionId = table.Column<long>(type: "INTEGER", nullable: false),
                    Status = table.Column<string>(type: "TEXT", maxLength: 16, nullable: false),
                    InputsJson = table.Column<string>(type: "TEXT", nullable: false),
                    OutputsJson = table.Column<string>(type: "TEXT", nullable: false),
                    ReferenceDataSourcesJson = table.Column<string>(type: "TEXT", nullable: false),
                    TagsJson = table.Column<string>(type: "TEXT", nullable: false),
                    StartingPosition = table.Column<string>(type: "TEXT", maxLength: 32, nullable: true),
                    RunId = table.Column<long>(type: "INTEGER", nullable: false),
                    CreatedAt = table.Column<long>(type: "INTEGER", nullable: false),
                    UpdatedAt = table.Column<long>(type: "INTEGER", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_analytics_applications", x => x.Name);
                });

            migrationBuilder.CreateTable(
                name: "analytics_checkpoints",
                columns: table => new
                {
                    ApplicationName = table.Column<string>(type: "TEXT", maxLength: 128, nullable: false),
                    RunId = table.Column<long>(type: "INTEGER", nullable: false),
                    State = table.Column<string>(type: "TEXT", nullable: false),
                    UpdatedAt = table.Column<long>(type: "INTEGER", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_analytics_checkpoints", x => x.ApplicationName);
                });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "analytics_applications");

            migrationBuilder.DropTable(
                name: "analytics_checkpoints");
        }
    }
}
